"""The sessions list: one DataTable (virtual rendering), never one widget per row.

The screen pushes the full set of rows with `show()`; the table filters and sorts them itself and
keeps the cursor on the same session across refreshes, so a poll every second never makes the
selection jump.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, RowKey

from .. import format as fmt
from . import display

if TYPE_CHECKING:  # the store package is imported once the engine opens, after the first paint
    from ..engine.store.overview import RowTotals, SessionListItem

#: (key, label, width): fixed columns; "name" and "branch" share what is left (see `layout`).
FIXED: dict[str, tuple[str, int]] = {
    "status": (" ", 1),
    "iters": ("It", 2),
    "test": ("Test", 5),
    "tokens": ("Tokens", 6),
    "cost": ("Cost", 9),
    "age": ("Age", 6),
}
ORDER = ("status", "name", "repo", "branch", "iters", "test", "tokens", "cost", "age")
PAD = 2  # DataTable's cell padding, both sides
SCROLLBAR = 2
NAME_MIN = 10
#: The repo and branch columns appear once the name would get at least this many columns beside them.
WIDE_NAME = 24
REPO_WIDTH = 12

#: Before the name of a live session whose changes touch the same files as another live session's.
OVERLAP_MARK = "⚠ "

#: A running session's status cell cycles through these (the frame comes from the clock).
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def layout(width: int) -> list[tuple[str, str, int]]:
    """The columns for a table `width` cells wide: status, name, tokens, cost and age always fit without
    a horizontal scroll (80 columns and up); repo and branch join when there is room; the name (and
    branch) take whatever is left, so a wide terminal shows whole names."""
    fixed = sum(w + PAD for _, w in FIXED.values())
    room = max(NAME_MIN, width - SCROLLBAR - fixed - PAD)  # what the name column can have
    widths: dict[str, int] = {}
    wide_room = room - (REPO_WIDTH + PAD) - PAD  # name + branch, once repo and branch are in
    if wide_room >= 2 * WIDE_NAME:
        widths["repo"] = REPO_WIDTH
        widths["name"] = wide_room // 2
        widths["branch"] = wide_room - widths["name"]
    else:
        widths["name"] = room
    labels = {"name": "Name", "repo": "Repo", "branch": "Branch"}
    out: list[tuple[str, str, int]] = []
    for key in ORDER:
        if key in FIXED:
            out.append((key, FIXED[key][0], FIXED[key][1]))
        elif key in widths:
            out.append((key, labels[key], widths[key]))
    return out


#: Sort orders `s` cycles through: (label, key, reverse).
SORTS: tuple[tuple[str, str, bool], ...] = (
    ("newest", "created", True),
    ("status", "status", False),
    ("name", "name", False),
    ("cost", "cost", True),
    ("tokens", "tokens", True),
)

_STATUS_ORDER = {s: i for i, s in enumerate(("running", "awaiting-input", "error", "interrupted", "idle", "done"))}


@dataclass(frozen=True)
class SessionRow:
    session: SessionListItem  # plain rows from `Store.list_session_rows` (not pydantic: 10,000 per reload)
    totals: RowTotals

    def matches(self, words: list[str], statuses: list[str]) -> bool:
        s = self.session
        if statuses and s.status.value not in statuses:
            return False
        haystack = f"{s.name} {s.id} {s.repo_path} {s.branch} {s.status.value} {s.agent}".lower()
        return all(w in haystack for w in words)


def parse_filter(text: str) -> tuple[list[str], list[str]]:
    """`auth status:running` → (["auth"], ["running"]); `is:error` works too."""
    words: list[str] = []
    statuses: list[str] = []
    for token in text.lower().split():
        key, sep, value = token.partition(":")
        if sep and key in ("status", "is", "s") and value:
            statuses.extend(v for v in value.split(",") if v)
        else:
            words.append(token)
    return words, statuses


def _sort_key(key: str) -> Callable[[SessionRow], object]:
    if key == "status":
        return lambda r: (_STATUS_ORDER.get(r.session.status.value, 9), r.session.created_at)
    if key == "name":
        return lambda r: r.session.name.lower()
    if key == "cost":
        return lambda r: r.totals.cost_usd or 0.0
    if key == "tokens":
        return lambda r: r.totals.tokens
    return lambda r: (r.session.created_at, r.session.id)


class SessionTable(DataTable[Text | str]):
    DEFAULT_CSS = """
    SessionTable { height: 1fr; overflow-x: hidden; }
    """

    def __init__(self, *, id: str | None = None, max_rows: int = 1000) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.max_rows = max_rows  # DataTable measures every cell it gets; filters reach every session
        self.matching = 0
        self._rows: list[SessionRow] = []
        self.filter_text = ""
        self.sort_index = 0
        self.now: datetime | None = None
        self._shown: list[str] = []
        self._cells_by_id: dict[str, list[Text | str]] = {}
        self._layout: list[tuple[str, str, int]] = layout(80)
        self.want_selected: str | None = None  # moved to once its row exists (a just-created session)
        self._by_id: dict[str, SessionRow] = {}
        #: live sessions touching the same files as another live session of their repo -> what they
        #: overlap (marked ⚠ before the name; the review screen shows the predicted conflict)
        self.overlaps: dict[str, str] = {}

    def on_mount(self) -> None:
        self._add_columns()

    # DataTable measures every cell of every new (or changed) row to size auto-width columns: 7,000
    # measures for the first 1,000 rows, a whole column again when a cell gets narrower (an age
    # ticking from "59s" to "1m"). Every column here has a fixed width (`layout`) and rows are one
    # line, so only the virtual size is computed (what DataTable's own method ends with).
    def _fixed(self) -> bool:
        return not any(column.auto_width for column in self.columns.values())

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        if not self._fixed():
            super()._update_dimensions(new_rows)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width + self._row_label_column_width, self._total_row_height + header)

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        if not self._fixed():
            super()._update_column_widths(updated_cells)

    # DataTable's own Home/End only scroll; in a list they move the selection, as g/G do.
    def action_scroll_home(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_scroll_end(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    @property
    def column_keys(self) -> list[str]:
        return [key for key, _, _ in self._layout]

    def _add_columns(self) -> None:
        for key, label, width in self._layout:
            self.add_column(label, key=key, width=width)

    def fit(self, width: int) -> None:
        """Lay the columns out for `width`, keeping the selected session and the scroll position."""
        new = layout(width)
        if new == self._layout:
            return
        selected, scroll_y = self.selected_id, self.scroll_y
        self._layout = new
        self.clear(columns=True)
        self._shown = []
        self._add_columns()
        self._render_rows(keep=selected)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)

    def on_resize(self) -> None:
        if self.size.width:
            self.fit(self.size.width)

    @property
    def selected_id(self) -> str | None:
        if not self._shown or self.cursor_row < 0 or self.cursor_row >= len(self._shown):
            return None
        return self._shown[self.cursor_row]

    @property
    def sort_label(self) -> str:
        return SORTS[self.sort_index][0]

    def cycle_sort(self) -> str:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self._render_rows()
        return self.sort_label

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._render_rows()

    def show(self, rows: list[SessionRow], now: datetime) -> None:
        self._rows = rows
        self._by_id = {r.session.id: r for r in rows}
        self.now = now
        self._render_rows()

    def set_overlaps(self, overlaps: dict[str, str]) -> None:
        """Mark the sessions that overlap another live session (only changed cells are redrawn)."""
        if overlaps != self.overlaps:
            self.overlaps = overlaps
            self._render_rows()

    def tick(self, now: datetime, *, all_rows: bool = True) -> None:
        """The clock moved: spinners and elapsed times of running sessions change, and (`all_rows`) the
        ages of the rows on screen; only cells whose text differs are redrawn."""
        self.now = now
        top = int(self.scroll_y)
        on_screen = set(self._shown[top : top + self.size.height + 1]) if all_rows else set()
        for sid in self._shown:
            row = self._by_id.get(sid)
            if row is not None and (sid in on_screen or row.session.status.value == "running"):
                self._update_row(row)

    def visible_rows(self) -> list[SessionRow]:
        words, statuses = parse_filter(self.filter_text)
        rows = [r for r in self._rows if r.matches(words, statuses)] if (words or statuses) else list(self._rows)
        _, key, reverse = SORTS[self.sort_index]
        rows.sort(key=_sort_key(key), reverse=reverse)  # type: ignore[arg-type]
        self.matching = len(rows)
        return rows[: self.max_rows]

    def _cells(self, row: SessionRow) -> list[Text | str]:
        s, t = row.session, row.totals
        status = s.status.value
        now = self.now
        running = status == "running"
        if running and now is not None:
            frame = SPINNER[int(now.timestamp() * 8) % len(SPINNER)]
            status_cell = Text(frame, style=display.STATUS_RICH["running"])
        else:
            status_cell = Text(display.glyph(status), style=display.STATUS_RICH.get(status, ""))
        if running:
            # The running iteration's own state: its tests have not run yet (not the previous result).
            test: Text | str = Text("…", style="cyan")
            since = t.running_since or s.updated_at
            when = fmt.duration(fmt.seconds_between(since, now)) if now else ""
            age_cell: Text | str = Text(when, style="cyan")
        else:
            test = display.test_cell(s.last_test_exit)
            age_cell = fmt.age(fmt.seconds_between(s.created_at, now)) if now else ""
        values: dict[str, Text | str] = {
            "status": status_cell,
            "name": self._name_cell(s),
            "repo": Text(os.path.basename(s.repo_path.rstrip("/")) or s.repo_path, overflow="ellipsis", no_wrap=True),
            "branch": Text(s.branch, overflow="ellipsis", no_wrap=True),
            "iters": str(t.iterations),
            "test": test,
            "tokens": fmt.tokens(t.tokens),
            "cost": fmt.cost(t.cost_usd, unpriced=t.unpriced, short=True),
            "age": age_cell,
        }
        return [values[key] for key in self.column_keys]

    def _name_cell(self, s: SessionListItem) -> Text:
        name = Text(s.name, overflow="ellipsis", no_wrap=True)
        if s.id in self.overlaps:
            return Text.assemble((OVERLAP_MARK, "bold yellow"), name, overflow="ellipsis", no_wrap=True)
        return name

    def _update_row(self, row: SessionRow) -> None:
        sid = row.session.id
        cells = self._cells(row)
        old = self._cells_by_id.get(sid, [])
        for index, (col, value) in enumerate(zip(self.column_keys, cells, strict=True)):
            if index >= len(old) or old[index] != value:
                self.update_cell(sid, col, value)
        self._cells_by_id[sid] = cells

    def _render_rows(self, keep: str | None = None) -> None:
        rows = self.visible_rows()
        keys = [r.session.id for r in rows]
        if keys == self._shown:
            # Same rows in the same order: update cells in place (no flicker, cursor stays).
            for row in rows:
                self._update_row(row)
            return
        selected = keep or self.selected_id
        if self.want_selected in keys:
            selected, self.want_selected = self.want_selected, None
        scroll_y = self.scroll_y
        self.clear()
        self._shown = keys
        self._cells_by_id = {}
        for row in rows:
            cells = self._cells(row)
            self._cells_by_id[row.session.id] = cells
            self.add_row(*cells, key=row.session.id)
        if selected in keys:
            self.scroll_to(y=scroll_y, animate=False, immediate=True)
            self.move_cursor(row=keys.index(selected), animate=False)
