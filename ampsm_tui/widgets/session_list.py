"""The sessions list: one DataTable (virtual rendering), never one widget per row.

The screen pushes the full set of rows with `show()`; the table filters and sorts them itself and
keeps the cursor on the same session across refreshes, so a poll every second never makes the
selection jump.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.widgets import DataTable

from ..engine.models import Session
from ..engine.store.overview import SessionTotals
from . import display

#: (key, label, width); None sizes a column to its content.
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("status", " ", 1),
    ("name", "Name", 18),
    ("repo", "Repo", 10),
    ("branch", "Branch", 16),
    ("iters", "It", 2),
    ("test", "Test", 7),
    ("tokens", "Tokens", 6),
    ("cost", "Cost", 8),
    ("age", "Age", 3),
)

#: Sort orders `s` cycles through: (label, key, reverse).
SORTS: tuple[tuple[str, str, bool], ...] = (
    ("newest", "created", True),
    ("status", "status", False),
    ("name", "name", False),
    ("cost", "cost", True),
    ("tokens", "tokens", True),
)

WIDE_ONLY = {"repo", "branch"}

_STATUS_ORDER = {s: i for i, s in enumerate(("running", "awaiting-input", "error", "interrupted", "idle", "done"))}


@dataclass(frozen=True)
class SessionRow:
    session: Session
    totals: SessionTotals

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
    SessionTable { height: 1fr; }
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
        self.compact = False
        self.want_selected: str | None = None  # moved to once its row exists (a just-created session)

    def on_mount(self) -> None:
        self._add_columns()

    def _columns(self) -> list[tuple[str, str, int | None]]:
        return [c for c in COLUMNS if not (self.compact and c[0] in WIDE_ONLY)]

    def _add_columns(self) -> None:
        for key, label, width in self._columns():
            self.add_column(label, key=key, width=width)

    def set_compact(self, compact: bool) -> None:
        """Narrow terminals drop the repo and branch columns (the detail screen shows them)."""
        if compact == self.compact:
            return
        self.compact = compact
        self.clear(columns=True)
        self._shown = []
        self._add_columns()
        self._render_rows()

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
        self.now = now
        self._render_rows()

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
        cells: list[Text | str] = [
            Text(display.glyph(status), style=display.STATUS_RICH.get(status, "")),
            Text(s.name, overflow="ellipsis", no_wrap=True),
            Text(os.path.basename(s.repo_path.rstrip("/")) or s.repo_path, overflow="ellipsis", no_wrap=True),
            Text(s.branch, overflow="ellipsis", no_wrap=True),
            str(t.iterations),
            display.test_result(s.last_test_exit),
            display.tokens(t.tokens),
            display.cost(t.cost_usd, unpriced=t.unpriced),
            display.age(s.created_at, self.now) if self.now else "",
        ]
        if self.compact:
            return [cell for (key, _, _), cell in zip(COLUMNS, cells, strict=True) if key not in WIDE_ONLY]
        return cells

    def _render_rows(self) -> None:
        rows = self.visible_rows()
        keys = [r.session.id for r in rows]
        if keys == self._shown:
            # Same rows in the same order: update cells in place (no flicker, cursor stays).
            for row in rows:
                sid = row.session.id
                cells = self._cells(row)
                old = self._cells_by_id.get(sid, [])
                for index, ((col, _, _), value) in enumerate(zip(self._columns(), cells, strict=True)):
                    if index >= len(old) or old[index] != value:
                        self.update_cell(sid, col, value)
                self._cells_by_id[sid] = cells
            return
        selected = self.want_selected if self.want_selected in keys else self.selected_id
        if self.want_selected in keys:
            self.want_selected = None
        self.clear()
        self._shown = keys
        self._cells_by_id = {}
        for row in rows:
            cells = self._cells(row)
            self._cells_by_id[row.session.id] = cells
            self.add_row(*cells, key=row.session.id)
        if selected in keys:
            self.move_cursor(row=keys.index(selected), animate=False)
