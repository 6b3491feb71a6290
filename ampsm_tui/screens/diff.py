"""The full-screen diff viewer of one session (`d`): file list, highlighted file, scope toggle."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import Static

from .. import actions
from ..widgets.diff_view import DiffView
from ..widgets.footer import KeyFooter
from ..widgets.nav import NavMixin

if TYPE_CHECKING:
    from ..app import AmpsmApp


class DiffScreen(NavMixin, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *actions.bindings("form", only=("close",)),
        *actions.bindings("diff"),
        *actions.bindings("nav"),
    ]
    CONTEXTS = ("diff", "nav")

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id

    def compose(self) -> ComposeResult:
        yield Static("", id="diff-header", classes="screen-title")
        yield DiffView(id="diff")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, group="diff-load", exit_on_error=False)
    async def load(self) -> None:
        app: AmpsmApp = self.app  # type: ignore[assignment]
        view = self.query_one(DiffView)
        session = await app.store.get_session(self.session_id)
        if session is None:
            view.empty_message = f"No session {self.session_id}."
            view.show_diff("")
            return
        where = f"{session.branch} → {session.base_branch}"
        if session.status.value == "done":
            merged = getattr(app.engine.sessions, "merged_as", None)
            sha = await merged(self.session_id) if merged is not None else None
            where = f"merged as {sha[:8]} into {session.base_branch}" if sha else f"merged into {session.base_branch}"
        self.query_one("#diff-header", Static).update(f" Diff · {session.name} · {where}")
        try:
            text = await app.engine.sessions.diff(self.session_id, last_iteration=view.last_iteration)
        except Exception as exc:
            view.empty_message = f"Diff unavailable: {exc}"
            text = ""
        view.show_diff(text)
        self.query_one("#diff-files").focus()

    def action_close(self) -> None:
        self.dismiss()

    def action_next_file(self) -> None:
        self.query_one(DiffView).action_next_file()

    def action_prev_file(self) -> None:
        self.query_one(DiffView).action_prev_file()

    def action_toggle_scope(self) -> None:
        self.query_one(DiffView).action_toggle_scope()

    @on(DiffView.ScopeToggled)
    def _scope(self, event: DiffView.ScopeToggled) -> None:
        self.query_one(DiffView).last_iteration = event.last_iteration
        self.load()
