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
from .messages import DataChanged, EngineEventMessage
from .transcripts import Transcripts

if TYPE_CHECKING:
    from .db_watch import DbWatch
    from .engine.config import Config
    from .engine.engine import Engine
    from .engine.events import Event
    from .engine.notify import Notifier
    from .engine.store import Store
    from .live_tail import RemoteTails

Clock = Callable[[], datetime]
#: Worker groups that land sessions (the merge queue's run, the review screen's tests/merge/undo).
LAND_GROUPS = ("merge-queue", "review-run")
#: How long quitting waits for webhook/email messages still in flight.
NOTIFY_DRAIN_S = 10.0
EngineFactory = Callable[["Config"], Awaitable["Engine"]]


class AmpsmApp(App[None]):
    TITLE = "ampsm"
    CSS_PATH = "styles/app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings("app")

    def __init__(
        self,
        config: Config | None,
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
        # No config given (bare `ampsm`): it is loaded right after the dashboard's first paint (pydantic
        # and the YAML file cost more than Textual's own start); until then the keymap and theme of
        # the last run, cached in the UI state file, are used.
        self._config = config
        self._config_error: Exception | None = None
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
        self._db_changed = True  # since the last tail tick (set by the DB watch)
        from .ui_state import UiState, config_dir

        self.ui_state = UiState(config.config_dir if config is not None else config_dir())
        cached_keymap = self.ui_state.get("keymap")
        keymap = config.ui.keymap if config is not None else (cached_keymap if isinstance(cached_keymap, dict) else {})
        self.user_keymap: dict[str, str] = dict(keymap)
        self.set_keymap(self.user_keymap)
        self._apply_theme(config.ui.theme if config is not None else self.ui_state.get("config_theme"), first=True)
        self._theme_ready = True
        if config is not None:
            self._adopt_config(config)

    def _apply_theme(self, configured: object, *, first: bool = False) -> None:
        saved = self.ui_state.get("theme")  # the last one picked (ctrl+t) wins over the config's
        theme = saved if isinstance(saved, str) and saved in self.available_themes else configured
        name = theme if isinstance(theme, str) and theme in self.available_themes else "gruvbox"
        if first and name != self.theme:
            self._set_initial_theme(name)
        else:
            self.theme = name

    def _set_initial_theme(self, name: str) -> None:
        """The theme before anything is parsed: what `App._watch_theme` does (textual 8.2.8, pinned), less
        its `refresh_css`, which re-parses every stylesheet after the first parse (a tenth of the first
        paint). The stylesheet has not been read yet, so its variables only need setting."""
        self.set_reactive(App.theme, name)
        dark = self.current_theme.dark
        classes = {c: False for c in self.classes if c.startswith("-theme-")}
        self.update_classes(
            {**classes, f"-theme-{name}": True, "-dark-mode": dark, "-light-mode": not dark}, update=False
        )
        self._refresh_truecolor_filter(self.ansi_theme)
        self.stylesheet.set_variables(self.get_css_variables())

    def _adopt_config(self, config: Config) -> None:
        """The config's keymap and theme in force, and cached for the next start's first paint."""
        if dict(config.ui.keymap) != self.user_keymap:
            self.user_keymap = dict(config.ui.keymap)
            self.set_keymap(self.user_keymap)
        self.ui_state.set("keymap", dict(config.ui.keymap))
        self.ui_state.set("config_theme", config.ui.theme)

    @property
    def config(self) -> Config:
        if self._config is None:
            from .engine.config import load_config

            self._config = load_config()
            was_ready, self._theme_ready = self._theme_ready, False
            self._apply_theme(self._config.ui.theme)
            self._theme_ready = was_ready
            self._adopt_config(self._config)
        return self._config

    @property
    def config_loaded(self) -> bool:
        return self._config is not None

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
        # Let that frame reach the terminal before the config, the engine's imports and the DB (much of
        # it synchronous) hold the event loop.
        import asyncio
        import contextlib

        painted = asyncio.Event()
        dashboard.call_after_refresh(painted.set)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(painted.wait(), 1.0)
        if self._config is None:
            from .engine.config import ConfigError

            try:
                self.config  # noqa: B018  (loads it, after the first paint)
            except ConfigError as exc:
                self._config_error = exc
                self.exit(return_code=2)
                return
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

    @property
    def notifier(self) -> Notifier | None:
        """The engine's one notifier (webhook/email for what this process drives)."""
        return getattr(self._engine, "notifier", None) if self._engine is not None else None

    async def on_unmount(self) -> None:
        self._closing = True
        if self._unsubscribe:
            self._unsubscribe()
        self.workers.cancel_all()  # nothing may touch the store once it is closed
        if self.db_watch is not None:
            await self.db_watch.stop()
        notifier = self.notifier
        if notifier is not None:  # quitting waits less for webhooks than a headless command does
            await notifier.drain(timeout=NOTIFY_DRAIN_S)
        if self._engine is not None and self._owns_engine:
            await self._engine.close()

    def _data_changed(self) -> None:
        """Another process committed: every screen on the stack hears it (a replaceable message)."""
        self._db_changed = True
        if self._closing:
            return
        for screen in self.screen_stack:
            screen.post_message(DataChanged())

    async def _tail_tick(self) -> None:
        """Follow other processes' running iterations of the watched sessions (never overlapping)."""
        if self._closing or self.remote_tails is None:
            return
        try:
            changed, self._db_changed = self._db_changed, False
            await self.remote_tails.tick(db_changed=changed)
        except Exception as exc:  # one bad tick (a file being rotated, a busy DB) never ends the tail
            self._db_changed = True  # the next tick reads the DB again
            if self._closing:
                return
            import logging

            logging.getLogger(__name__).warning("tail tick failed: %s: %s", type(exc).__name__, exc)
        finally:
            if not self._closing:
                self.set_timer(self.tail_interval, self._tail_tick, name="tail-tick")

    def _on_engine_event(self, event: Event) -> None:
        if event.topic == "agent.event":  # (no import of the events module before the first paint)
            self.transcripts.add_event(event.session_id, event.event.model_dump(mode="json"))  # type: ignore[attr-defined]
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
        """Agent turns under way in this app, as many as quitting would cancel: every session the
        engine is iterating here (each candidate of a best-of run, each item of a batch), and a turn
        whose worker has started before the engine took it up."""
        busy = set(self.engine.sessions.running_ids()) if self.engine_open else set()
        best_of = False
        for worker in self.workers:
            if worker.is_running and worker.group.startswith("iterate:"):
                target = worker.group.removeprefix("iterate:")
                if target.startswith("best-of:"):
                    best_of = True  # its candidates are counted once the engine runs them
                else:
                    busy.add(target)
        return len(busy) or int(best_of)

    def running_lands(self) -> int:
        """Merge-queue runs and review lands under way here: quitting mid-way stops a rebase or a
        merge between its steps, so `q` asks for these as it does for running iterations."""
        return sum(1 for worker in self.workers if worker.group in LAND_GROUPS and worker.is_running)

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
        """`b` / `B` are not offered on the screen they would open (nor shown in its footer). By class
        name: importing those screens here put them on the first paint's path."""
        here = {"batches": "BatchesScreen", "bench": "BenchScreen"}.get(action)
        return not (here is not None and type(self.screen).__name__ == here)

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
        running, lands = self.running_iterations(), self.running_lands()
        if not running and not lands:
            self.exit()
            return
        busy = [f"{running} iteration(s) running"] if running else []
        busy += [f"{lands} merge-queue run / land under way"] if lands else []
        from .screens.dialogs import ConfirmScreen

        def decided(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(
            ConfirmScreen(f"{', '.join(busy)}. Quit and cancel them?", yes="Quit", no="Stay"),
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
    """The one way to build the app (the CLI and the tests). Without a config (and engine), the app loads
    it itself right after its first paint."""
    config = config or (engine.config if engine is not None else None)
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
    app = create_app()
    app.run()
    if app._config_error is not None:
        raise app._config_error  # the CLI prints it as `error: config: …`, as before the TUI started
    return int(app.return_code or 0)


STYLES = Path(__file__).parent / "styles"
