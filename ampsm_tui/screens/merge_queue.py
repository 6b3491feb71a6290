"""The merge queue, live (`Q`): every entry in landing order with its state, the base tip of those
landed and the reason of those taken out (a conflict, a red gate on the merged tree).

The queue is a small JSON file beside the config (engine/queue.py), written by whichever process runs
it: this TUI (`u` queues the selected session and runs the queue in an app worker) or `ampsm queue`
in another shell. The screen watches that file's size and mtime on a short timer (a stat, no read
unless it moved), so it follows a queue run by any process.
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
from ..messages import DataChanged
from ..widgets.footer import KeyFooter
from ..widgets.nav import NavMixin
from ..widgets.table import Table

if TYPE_CHECKING:
    from ..app import AmpsmApp
    from ..engine.queue import QueueEntry

STATE_STYLE = {"queued": "dim", "landing": "bold yellow", "landed": "green", "removed": "red"}
STATE_GLYPH = {"queued": "·", "landing": "▶", "landed": "✓", "removed": "✗"}
#: How often the queue file is checked for a change (a stat).
WATCH_S = 0.3
EMPTY = "The merge queue is empty: u on a session queues it (or: ampsm queue add ID…)"


def note(entry: QueueEntry) -> Text:
    """What became of an entry: the base tip it landed as, or why it was taken out."""
    if entry.status == "landed":
        return Text(f"on {entry.base_branch} at {(entry.sha or '')[:10]}", style="green")
    if entry.status == "removed":
        tip = f" (branch kept at {entry.branch_tip[:10]})" if entry.branch_tip else ""
        return Text((entry.reason or "taken out") + tip, style="red")
    if entry.status == "landing":
        return Text("rebasing onto the base, re-running the test gate, merging…", style="yellow")
    return Text("waiting for its turn", style="dim")


class MergeQueueScreen(NavMixin, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *actions.bindings("form", only=("close",)),
        *actions.bindings("monitor"),
        *actions.bindings("dashboard", only=("refresh",)),
        *actions.bindings("nav"),
    ]
    CONTEXTS = ("monitor", "nav")

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[QueueEntry] = []
        self._stamp: tuple[int, int] | None = None

    @property
    def ampsm(self) -> AmpsmApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(" Merge queue · one land at a time onto the up-to-date base", classes="screen-title")
        yield Static(EMPTY, id="queue-empty", classes="empty-hint")
        yield Table(id="queue-entries", cursor_type="row", zebra_stripes=True)
        yield Static("", id="queue-detail")
        yield Static("", id="queue-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#queue-entries", DataTable)
        for label in ("#", "state", "session", "onto", "what happened"):
            table.add_column(label, key=label)
        table.focus()
        self.reload()
        self.set_interval(WATCH_S, self._watch)

    def _file_stamp(self) -> tuple[int, int] | None:
        from ..engine.queue import MergeQueue

        try:
            st = MergeQueue(self.ampsm.engine).path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _watch(self) -> None:
        if self._file_stamp() != self._stamp:
            self.reload()

    @on(DataChanged)
    def _on_data(self, _: DataChanged) -> None:
        self.reload()

    def action_refresh(self) -> None:
        self.reload()

    def action_close(self) -> None:
        self.dismiss()

    @work(exclusive=True, group="queue-load", exit_on_error=False)
    async def reload(self) -> None:
        import asyncio

        from ..engine.queue import MergeQueue

        self._stamp = self._file_stamp()
        queue = MergeQueue(self.ampsm.engine)
        entries = await asyncio.to_thread(queue.entries)
        names = {}
        for e in entries:
            session = await self.ampsm.store.get_session(e.session_id)
            names[e.session_id] = session.name if session else e.session_id
        self._fill(entries, names)

    def _fill(self, entries: list[QueueEntry], names: dict[str, str]) -> None:
        self.entries = entries
        self.query_one("#queue-empty", Static).display = not entries
        table = self.query_one("#queue-entries", DataTable)
        cursor = table.cursor_row
        table.clear()
        for n, e in enumerate(entries, 1):
            style = STATE_STYLE[e.status]
            table.add_row(
                str(n),
                Text(f"{STATE_GLYPH[e.status]} {e.status}", style=style),
                Text(f"{names[e.session_id]} {e.session_id}", overflow="ellipsis", no_wrap=True),
                e.base_branch,
                note(e),
                key=e.id,
            )
        if entries:
            table.move_cursor(row=min(max(cursor, 0), len(entries) - 1))
        self._show_detail()
        counts = {s: sum(1 for e in entries if e.status == s) for s in STATE_GLYPH}
        summary = " · ".join(f"{counts[s]} {s}" for s in STATE_GLYPH if counts[s])
        self.query_one("#queue-status", Static).update(Text(summary, style="bold") if summary else "")

    def highlighted(self) -> QueueEntry | None:
        table = self.query_one("#queue-entries", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((e for e in self.entries if e.id == key), None)

    def _show_detail(self) -> None:
        """The highlighted entry in full (a reason is often longer than its cell): branch, then the note."""
        entry = self.highlighted()
        detail = self.query_one("#queue-detail", Static)
        if entry is None:
            detail.update("")
            return
        line = Text(f"{entry.session_id} {entry.branch or '–'} → {entry.base_branch}: ", style="bold")
        detail.update(line + note(entry))

    @on(DataTable.RowHighlighted, "#queue-entries")
    def _on_highlight(self, _: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def action_open_item(self) -> None:
        entry = self.highlighted()
        if entry is not None:
            self.ampsm.open_session(entry.session_id)

    @on(DataTable.RowSelected, "#queue-entries")
    def _on_selected(self, _: DataTable.RowSelected) -> None:
        self.action_open_item()
