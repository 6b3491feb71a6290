"""The Textual application: owns one Engine in its own event loop and bridges engine events.

`create_app()` is the one factory: `run_app()` and the tests build the app the same way, the tests
only passing a different config (no DB watch, fixed clock) or their own engine.

Engine events reach the screens in two ways. Agent output (the flood) is appended to per-session
transcripts and queued into the visible `OutputLog` without any message; everything else becomes a
`EngineEventMessage` for the screens. Other processes' changes arrive through the database: a
file watch on the DB and its WAL plus a slow poll (`db_watch.DbWatch`), both restarting themselves
after any error, so live refresh cannot die. The output of an iteration another process
runs is tailed from its raw stream file (`live_tail.RemoteTails`), on a faster timer of its own.

Keys come from the actions registry; `ui.keymap` (action id -> keys) is applied with Textual's
keymap support, so the footer, `?` help and the palette show the user's keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import BindingType
from textual.message import Message
from textual.screen import Screen

from . import actions
from .engine.clock import utcnow
from .engine.config import Config, load_config
from .transcripts import Transcripts

if TYPE_CHECKING:
    from .db_watch import DbWatch
    from .engine.engine import Engine
    from .engine.events import Event
    from .engine.notify import Notifier
    from .engine.store import Store
    from .live_tail import RemoteTails

Clock = Callable[[], datetime]
#: How long quitting waits for webhook/email messages still in flight.
NOTIFY_DRAIN_S = 10.0
EngineFactory = Callable[[Config], Awaitable["Engine"]]


class EngineEventMessage(Message):
    """An engine event (not agent output) for the screens."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class DataChanged(Message):
    """Another process committed to the DB; replaceable so a burst of commits is one refresh."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DataChanged)


class AmpsmApp(App[None]):
    TITLE = "ampsm"
    CSS_PATH = "styles/app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings("app")

    def __init__(
        self,
        config: Config,
        *,
        engine: Engine | None = None,
        engine_factory: EngineFactory | None = None,
        clock: Clock | None = None,
        poll_interval: float = 2.0,
        output_max_lines: int = 10_000,
        cursor_blink: bool = True,
        tail_interval: float = 0.25,
    ) -> None:
        super().__init__()
        self.config = config
        self._engine = engine
        self._engine_factory = engine_factory
        self._owns_engine = engine is None
        self.clock: Clock = clock or utcnow
        self.poll_interval = poll_interval
        self.output_max_lines = output_max_lines
        self.cursor_blink = cursor_blink
        self.transcripts = Transcripts()
        self._unsubscribe: Callable[[], None] | None = None
        self.db_watch: DbWatch | None = None
        self._closing = False
        self.tail_interval = tail_interval
        self.remote_tails: RemoteTails | None = None
        self.notifier: Notifier | None = None
        self._detach_notifier: Callable[[], None] | None = None
        self.user_keymap: dict[str, str] = dict(config.ui.keymap)
        self.set_keymap(self.user_keymap)
        from .ui_state import UiState

        self.ui_state = UiState(config.config_dir)
        saved = self.ui_state.get("theme")  # the last one picked (ctrl+t) wins over the config's
        theme = saved if isinstance(saved, str) and saved in self.available_themes else config.ui.theme
        self.theme = theme if theme in self.available_themes else "gruvbox"
        self._theme_ready = True

    def watch_theme(self, theme: str) -> None:
        if getattr(self, "_theme_ready", False):
            self.ui_state.set("theme", theme)

    # -- engine -----------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the engine is not open yet")
        return self._engine

    @property
    def store(self) -> Store:
        return self.engine.store

    @property
    def engine_open(self) -> bool:
        return self._engine is not None

    async def on_mount(self) -> None:
        from .screens.dashboard import DashboardScreen

        # The dashboard paints first (header, empty panes); its rows fill in once the DB is open.
        dashboard = DashboardScreen()
        await self.push_screen(dashboard)
        if self._engine is None:
            from .engine.errors import AmpsmError

            try:
                if self._engine_factory is not None:
                    self._engine = await self._engine_factory(self.config)
                else:
                    from .engine.engine import Engine

                    self._engine = await Engine.open(self.config)
            except AmpsmError as exc:
                self.exit(return_code=1, message=exc.one_line())
                return
        self._unsubscribe = self.engine.bus.subscribe("*", self._on_engine_event)
        self._attach_notifier()
        if self.config.ui.auto_update:
            from .db_watch import DbWatch

            # The baseline is read before the dashboard's first load: a commit landing between the
            # two is then seen by the first check (read after the load, it would be missed for good).
            self.db_watch = DbWatch(self.store, self.store.path, self._data_changed, poll_interval=self.poll_interval)
            await self.db_watch.baseline()
        dashboard.engine_ready()
        if self.db_watch is not None:
            from .live_tail import RemoteTails

            sessions = getattr(self.engine, "sessions", None)
            is_local = getattr(sessions, "is_running", None) or (lambda _sid: False)
            self.remote_tails = RemoteTails(self.store, self.transcripts, is_local=is_local)
            self.db_watch.start()
            self.set_timer(self.tail_interval, self._tail_tick, name="tail-tick")

    def _attach_notifier(self) -> None:
        """Webhook/email notifications (config `notifications.*` and a session's own
        `--notify-webhook`) for what this process drives, as `ampsm new`/`iterate` do headless.
        Another process's sessions are notified by that process, so nothing is sent twice."""
        from .engine.notify import Notifier

        self.notifier = Notifier.from_config(self.engine.config, store=self.engine.store)
        self._detach_notifier = self.notifier.attach(self.engine.bus)

    async def on_unmount(self) -> None:
        self._closing = True
        if self._unsubscribe:
            self._unsubscribe()
        self.workers.cancel_all()  # nothing may touch the store once it is closed
        if self.db_watch is not None:
            await self.db_watch.stop()
        if self.notifier is not None:
            # Messages in flight are delivered before the store they read from is closed.
            await self.notifier.drain(timeout=NOTIFY_DRAIN_S)
        if self._detach_notifier is not None:
            self._detach_notifier()
        if self._engine is not None and self._owns_engine:
            await self._engine.close()

    def _data_changed(self) -> None:
        """Another process committed: every screen on the stack hears it (a replaceable message)."""
        if self._closing:
            return
        for screen in self.screen_stack:
            screen.post_message(DataChanged())

    async def _tail_tick(self) -> None:
        """Follow other processes' running iterations of the watched sessions (never overlapping)."""
        if self._closing or self.remote_tails is None:
            return
        try:
            await self.remote_tails.tick()
        except Exception as exc:  # one bad tick (a file being rotated, a busy DB) never ends the tail
            if self._closing:
                return
            import logging

            logging.getLogger(__name__).warning("tail tick failed: %s: %s", type(exc).__name__, exc)
        finally:
            if not self._closing:
                self.set_timer(self.tail_interval, self._tail_tick, name="tail-tick")

    def _on_engine_event(self, event: Event) -> None:
        if event.topic == "agent.event":
            self.transcripts.add_event(event.session_id, event.event)  # type: ignore[attr-defined]
            return
        self.transcripts.add_lifecycle(event)
        for screen in self.screen_stack:
            screen.post_message(EngineEventMessage(event))

    def run_engine(
        self,
        work: Callable[[], Awaitable[Any]],
        *,
        group: str,
        description: str,
        on_done: Callable[[Any], Any] | None = None,
        exclusive: bool = True,
    ) -> None:
        """Run an engine call in an async worker owned by the app (closing a screen never cancels it);
        errors become a notification, never a crash and never silence."""

        async def runner() -> None:
            from .engine.errors import AmpsmError, UsageError

            try:
                result = await work()
            except AmpsmError as exc:
                self.notify(exc.one_line(), title=description, severity="error", timeout=10)
                return
            except UsageError as exc:
                self.notify(exc.message, title=description, severity="error", timeout=10)
                return
            if on_done is not None:
                outcome = on_done(result)
                if hasattr(outcome, "__await__"):
                    await outcome

        self.run_worker(runner(), group=group, description=description, exclusive=exclusive, exit_on_error=False)

    def running_iterations(self) -> int:
        return sum(1 for worker in self.workers if worker.group.startswith("iterate:") and worker.is_running)

    # -- notifications ----------------------------------------------------------------------

    def alert(self, message: str, *, title: str = "", severity: str = "information") -> None:
        """A toast and (configurable) the terminal bell, for awaiting-input, failures and batch ends."""
        if not self.config.ui.notifications:
            return
        self.notify(message, title=title, severity=severity, timeout=8)  # type: ignore[arg-type]
        if self.config.ui.bell:
            self.bell()

    # -- app-wide actions (from the registry) -------------------------------------------------

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`b` / `B` are not offered on the screen they would open (nor shown in its footer)."""
        from .screens.batches import BatchesScreen
        from .screens.bench import BenchScreen

        here = {"batches": BatchesScreen, "bench": BenchScreen}.get(action)
        return not (here is not None and isinstance(self.screen, here))

    def action_batches(self) -> None:
        from .screens.batches import BatchesScreen

        # The screen posts `OpenSession` for `enter` on an item; the app opens it (below), so the
        # screen's own fallback push is switched off.
        self.push_screen(BatchesScreen(on_open=lambda _session_id: None))

    def on_batches_screen_open_session(self, message: Message) -> None:
        session_id = getattr(message, "session_id", None)
        if session_id:
            self.open_session(session_id)

    def open_session(self, session_id: str) -> None:
        """The session detail screen of `session_id`, on top of whatever is shown."""
        from .screens.session import SessionScreen

        self.push_screen(SessionScreen(session_id))

    def action_bench(self) -> None:
        from .screens.bench import BenchScreen

        self.push_screen(BenchScreen())

    async def action_quit(self) -> None:
        running = self.running_iterations()
        if not running:
            self.exit()
            return
        from .screens.dialogs import ConfirmScreen

        def decided(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(
            ConfirmScreen(f"{running} iteration(s) running. Quit and cancel them?", yes="Quit", no="Stay"),
            decided,
        )

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette lists every registry action the current screen (or the app) can run."""
        yield from super().get_system_commands(screen)
        for action in actions.ACTIONS:
            if not action.palette:
                continue
            target: Any = screen if hasattr(screen, f"action_{action.id}") else None
            if target is None and hasattr(self, f"action_{action.id}") and action.context == "app":
                target = self
            if target is None:
                continue
            yield SystemCommand(
                f"{action.description} ({actions.display_keys(action, self.user_keymap)})",
                action.help,
                partial(target.run_action, action.id),
            )


def create_app(
    config: Config | None = None,
    *,
    engine: Engine | None = None,
    engine_factory: EngineFactory | None = None,
    clock: Clock | None = None,
    poll_interval: float = 2.0,
    output_max_lines: int = 10_000,
    cursor_blink: bool = True,
    tail_interval: float = 0.25,
) -> AmpsmApp:
    """The one way to build the app (the CLI and the tests)."""
    config = config or (engine.config if engine is not None else load_config())
    return AmpsmApp(
        config,
        engine=engine,
        engine_factory=engine_factory,
        clock=clock,
        poll_interval=poll_interval,
        output_max_lines=output_max_lines,
        cursor_blink=cursor_blink,
        tail_interval=tail_interval,
    )


def run_app() -> int:
    create_app().run()
    return 0


STYLES = Path(__file__).parent / "styles"
