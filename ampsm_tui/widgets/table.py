"""A DataTable whose drawn lines follow its column widths.

DataTable sizes auto-width columns on its next idle, after rows arrive, and caches the lines it
draws under a key that sizing leaves alone. A frame drawn between a row's arrival and that idle
(a busy screen, a loaded machine) kept the old widths, the header's: "comple" for "completed", "+10"
without its "-3", until the table next resized. Here a change of width drops the drawn lines.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, CellType, RowKey


class Table(DataTable[CellType]):
    def _widths(self) -> list[int]:
        return [column.get_render_width(self) for column in self.columns.values()]

    def _redraw_if_resized(self, before: list[int]) -> None:
        if self._widths() != before:
            self._clear_caches()
            self.refresh()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        before = self._widths()
        super()._update_dimensions(new_rows)
        self._redraw_if_resized(before)

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        before = self._widths()
        super()._update_column_widths(updated_cells)
        self._redraw_if_resized(before)


__all__ = ["Table"]
