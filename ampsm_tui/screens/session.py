"""One session in detail (`enter`): its fields, iterations timeline, output and metrics."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static

from .. import actions
from ..engine.models import Session
from ..engine.workspace import describe, log_tail
from ..live_tail import history_lines, past_output
from ..messages import DataChanged, EngineEventMessage
from ..widgets import display
from ..widgets.footer import KeyFooter
from ..widgets.nav import NavMixin
from ..widgets.output_log import OutputLog, feed_items
from ..widgets.timeline import Timeline, metrics_text
from . import session_actions

if TYPE_CHECKING:
    from ..app import AmpsmApp


def session_facts(session: Session, workspace: dict[str, Any] | None = None, *, short: bool = False) -> Table:
    """The session's fields (with its ports and setup log); `short` (a 24-line terminal) puts them on fewer
    lines so the iterations fit."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True, min_width=6)
    table.add_column(overflow="ellipsis", no_wrap=short)
    status = session.status.value
    shown = f"[{display.STATUS_RICH.get(status, '')}]{display.glyph(status)} {status}[/]"
    agent = f"{session.agent}" + (f" · {session.model}" if session.model else "")
    if short:
        table.add_row("Status", f"{shown} · {session.id}")
        table.add_row("Branch", f"{session.branch} → {session.base_branch}")
        table.add_row("Agent", f"{agent} · script {session.script or '–'} · thread {session.thread_id or '–'}")
    else:
        table.add_row("Status", shown)
        table.add_row("Id", session.id)
        table.add_row("Repo", session.repo_path)
        table.add_row("Branch", f"{session.branch} → {session.base_branch}")
        table.add_row("Agent", agent)
        table.add_row("Script", session.script or "–")
        table.add_row("Thread", session.thread_id or "–")
    if session.last_error:
        table.add_row("Last error", f"[red]{session.last_error}[/]")
    ports = (workspace or {}).get("ports") or []
    if ports:
        table.add_row("Ports", f"{ports[0]}-{ports[-1]} (AMPSM_PORT={ports[0]})")
    setup_log = (workspace or {}).get("setup_log")
    if setup_log:
        table.add_row("Setup log", Text(str(setup_log)))
        if session.last_error and "setup script failed" in session.last_error:
            table.add_row("", Text(log_tail(str(setup_log), 8), style="red"))
    return table


class SessionScreen(NavMixin, session_actions.SessionActions, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *actions.bindings("form", only=("close",)),
        *actions.bindings("dashboard", only=("iterate", "chat", "diff", "review", "cancel", "archive")),
        *actions.bindings("output"),
        *actions.bindings("nav"),
    ]
    CONTEXTS = ("dashboard", "output", "nav")

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.session: Session | None = None
        self._attached = False
        self._output = OutputLog(id="session-output", max_lines=10_000)

    def compose(self) -> ComposeResult:
        yield Static("", id="session-title", classes="screen-title")
        with Horizontal(id="session-top"):
            yield Static("", id="facts")
            yield Static("", id="session-metrics")
        with Vertical(id="session-body"):
            yield Timeline(id="session-timeline")
            self._output.max_lines = getattr(self.app, "output_max_lines", 10_000)
            yield self._output
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#session-timeline").border_title = "Iterations"
        self.query_one("#session-output").border_title = "Output"
        # the compact layout is decided before the first layout, not when the data arrives: a
        # table filled before a late class change keeps the widths of the old layout
        self.set_class(self.app.size.height < 34, "-short")
        self.load()

    def selected_session(self) -> Session | None:
        return self.session

    @work(exclusive=True, group="session-load", exit_on_error=False)
    async def load(self) -> None:
        app: AmpsmApp = self.app
        session = await app.store.get_session(self.session_id)
        if session is None:
            self.query_one("#session-title", Static).update(f" No session {self.session_id}")
            return
        self.session = session
        iterations = await app.store.list_iterations(self.session_id)
        self.query_one("#session-title", Static).update(f" Session · {session.name}")
        short = self.app.size.height < 34
        self.set_class(short, "-short")
        workspace = await describe(app.config, app.store, session)
        self.query_one("#facts", Static).update(session_facts(session, workspace, short=short))
        self.query_one("#session-metrics", Static).update(metrics_text(iterations))
        self.query_one(Timeline).show(iterations)
        if not self._attached:
            # marked attached only once fed: a change that cancels this load in its read must
            # leave the next load to read the history again, not an empty pane
            output = self._output
            seen = app.transcripts.iterations_seen(self.session_id)
            items = await asyncio.to_thread(
                past_output, session, iterations, lambda its: history_lines(its, {}, set()), seen
            )
            feed_items(output, items)
            app.transcripts.attach(self.session_id, output)
            self._attached = True

    def on_unmount(self) -> None:
        # The children are gone by now (a query would raise NoMatches): detach by reference.
        app: AmpsmApp = self.app
        app.transcripts.detach(self._output)

    @on(DataChanged)
    @on(EngineEventMessage)
    def _changed(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.dismiss()

    def action_toggle_details(self) -> None:
        self.query_one(OutputLog).action_toggle_details()

    def action_follow(self) -> None:
        self.query_one(OutputLog).action_follow()
