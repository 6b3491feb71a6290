"""Best-of-N candidates side by side (`w` on a session of a best-of group).

One row per candidate, in rank order (test gate, then diff size, cost and time: the engine's
ranking), with the winner starred; below, the highlighted candidate's diff. `m` opens the review
wizard on the highlighted candidate: landing it archives the other candidates (kept under
refs/ampsm/archive/, restorable with `ampsm restore`), as `ampsm land` does. Everything is read from
the group file and the Store, so a candidate landed or archived elsewhere shows here on the next change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static

from .. import actions
from .. import format as fmt
from ..messages import DataChanged
from ..widgets.diff_view import DiffView
from ..widgets.footer import KeyFooter
from ..widgets.nav import NavMixin
from ..widgets.table import Table

if TYPE_CHECKING:
    from ..app import AmpsmApp
    from ..engine.bestof import BestOf, Candidate
    from ..engine.models import Iteration, Session

#: (label, width): fixed widths so the table fits 80 columns without a horizontal scroll (None: as wide
#: as its cells).
COLUMNS: tuple[tuple[str, int | None], ...] = (
    ("#", 2),
    ("candidate", 16),
    ("agent", 7),
    ("gate", None),
    ("diff", None),
    ("cost", None),
    ("time", None),
    ("now", None),
)
STATE_STYLE = {"done": "green", "archived": "dim", "running": "yellow", "error": "red", "waiting": "yellow"}
#: The session statuses as the "now" column says them (short enough for 80 columns).
STATE_WORD = {"awaiting-input": "waiting", "interrupted": "stopped"}


def gate_cell(c: Candidate) -> Text:
    if c.passed:
        return Text("pass", style="green")
    if c.test_exit_code not in (None, 0):
        return Text(f"fail {c.test_exit_code}", style="red")
    return Text(c.status or "–", style="red" if c.status in ("failed", "error") else "dim")


def diff_cell(iterations: list[Iteration], c: Candidate) -> str:
    """`+12 −3 2f`: the candidate's lines added/removed and files, from its iterations."""
    if not iterations:
        return f"±{c.lines_changed}"
    added = sum(i.lines_added for i in iterations)
    removed = sum(i.lines_removed for i in iterations)
    files = max((i.files_changed for i in iterations), default=0)
    return f"+{added} −{removed} {files}f"


class BestOfScreen(NavMixin, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *actions.bindings("form", only=("close",)),
        *actions.bindings("dashboard", only=("review", "open_session", "refresh")),
        *actions.bindings("nav"),
    ]
    CONTEXTS = ("dashboard", "nav")

    def __init__(self, session_id: str) -> None:
        """`session_id`: any candidate of the group (the one selected on the dashboard)."""
        super().__init__()
        self.session_id = session_id
        self.group: BestOf | None = None
        self.sessions: dict[str, Session] = {}
        self._diff_of: str | None = None

    @property
    def ampsm(self) -> AmpsmApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(" Best-of", id="bestof-title", classes="screen-title")
        yield Static("", id="bestof-prompt")
        yield Table(id="candidates", cursor_type="row", zebra_stripes=True)
        yield Static("", id="bestof-status")
        yield DiffView(id="bestof-diff")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#candidates", DataTable)
        for label, width in COLUMNS:
            table.add_column(label, key=label, width=width)
        table.focus()
        self.reload()

    @on(DataChanged)
    def _on_data(self, _: DataChanged) -> None:
        self.reload()

    def action_refresh(self) -> None:
        self.reload()

    def action_close(self) -> None:
        self.dismiss()

    @work(exclusive=True, group="bestof-load", exit_on_error=False)
    async def reload(self) -> None:
        import asyncio

        from ..engine.bestof import group_of

        group = await asyncio.to_thread(group_of, self.ampsm.engine, self.session_id)
        if group is None:
            self.query_one("#bestof-status", Static).update(
                Text(f"{self.session_id} is not a candidate of a best-of group", style="yellow")
            )
            return
        store = self.ampsm.store
        self.group = group
        self.sessions = {}
        iterations: dict[str, list[Iteration]] = {}
        for c in group.candidates:
            session = await store.get_session(c.session_id)
            if session is not None:
                self.sessions[c.session_id] = session
            iterations[c.session_id] = await store.list_iterations(c.session_id)
        self._fill(group, iterations)

    def _fill(self, group: BestOf, iterations: dict[str, list[Iteration]]) -> None:
        n = len(group.candidates)
        self.query_one("#bestof-title", Static).update(
            f" Best-of {n} · {group.id} · ranked by test gate, diff size, cost, time"
        )
        prompt = Text(" prompt ", style="dim")
        prompt.append(group.prompt.splitlines()[0] if group.prompt else "", style="italic")
        self.query_one("#bestof-prompt", Static).update(prompt)
        table = self.query_one("#candidates", DataTable)
        cursor = table.cursor_row
        table.clear()
        for c in group.candidates:
            session = self.sessions.get(c.session_id)
            state = "landed" if group.landed == c.session_id else (str(session.status) if session else "gone")
            state = STATE_WORD.get(state, state)
            winner = c.session_id == group.winner
            table.add_row(
                Text.assemble(str(c.rank), ("★", "bold yellow") if winner else ""),
                Text(c.name, style="bold" if winner else "", overflow="ellipsis", no_wrap=True),
                Text(c.agent, overflow="ellipsis", no_wrap=True),
                gate_cell(c),
                diff_cell(iterations.get(c.session_id, []), c),
                fmt.cost(c.cost_usd, unpriced=int(c.cost_usd is None), short=True),
                fmt.duration(c.duration_s) if c.duration_s is not None else "–",
                Text(state, style=STATE_STYLE.get(state, "green" if state == "landed" else "")),
                key=c.session_id,
            )
        if group.candidates:
            table.move_cursor(row=min(max(cursor, 0), len(group.candidates) - 1))
        self._show_status(group)
        self._load_diff()

    def _show_status(self, group: BestOf) -> None:
        status = self.query_one("#bestof-status", Static)
        if group.landed:
            status.update(Text(f"✓ {group.landed} landed; the others are archived (ampsm restore ID)", style="green"))
        elif group.winner:
            review = actions.display_keys(actions.by_id("review"), self.ampsm.user_keymap)
            status.update(
                Text.assemble(
                    ("★ winner", "bold yellow"),
                    f" · {review} reviews and lands the highlighted one; the others get archived",
                )
            )
        else:
            status.update(Text("no candidate passed the test gate", style="yellow"))

    def highlighted(self) -> str | None:
        table = self.query_one("#candidates", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    @on(DataTable.RowHighlighted, "#candidates")
    def _on_highlight(self, _: DataTable.RowHighlighted) -> None:
        self._load_diff()

    def _load_diff(self) -> None:
        sid = self.highlighted()
        if sid is not None and sid != self._diff_of:
            self._diff_of = sid
            self.load_diff(sid)

    @work(exclusive=True, group="bestof-diff", exit_on_error=False)
    async def load_diff(self, session_id: str) -> None:
        view = self.query_one(DiffView)
        session = self.sessions.get(session_id)
        view.border_title = f"Diff · {session.name if session else session_id}"
        if session is None or session.status.value == "archived":
            view.empty_message = "Archived: kept under refs/ampsm/archive/ (ampsm restore ID brings it back)."
            view.show_diff("")
            return
        try:
            text = await self.ampsm.engine.sessions.diff(session_id)
        except Exception as exc:  # a missing worktree must not break the screen
            view.empty_message = f"Diff unavailable: {exc}"
            text = ""
        view.show_diff(text)

    def action_review(self) -> None:
        sid = self.highlighted()
        if sid is None:
            return
        session = self.sessions.get(sid)
        if session is None or session.status.value in ("archived", "done"):
            self.notify(f"{sid} is {session.status if session else 'gone'}: nothing to land", severity="warning")
            return
        from .review import ReviewScreen

        self.ampsm.push_screen(ReviewScreen(sid), self._reviewed)

    def _reviewed(self, _: None) -> None:
        self.reload()

    def action_open_session(self) -> None:
        sid = self.highlighted()
        if sid is not None:
            self.ampsm.open_session(sid)

    @on(DataTable.RowSelected, "#candidates")
    def _on_selected(self, _: DataTable.RowSelected) -> None:
        self.action_open_session()
