"""The tables redraw when their columns widen: a frame drawn before DataTable sized its columns no
longer stays on screen with the header widths ("comple" for "completed", seen in a CI snapshot of the
session screen and of best-of's candidates)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from ampsm_tui.widgets.table import Table
from ampsm_tui.widgets.timeline import Timeline

pytestmark = pytest.mark.tui


def _drawn(app: App[Any]) -> str:
    """What the screenshot shows (the frame a terminal would get), as text."""
    return html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")


class OneTable(App[None]):
    def __init__(self, table: DataTable[Any]) -> None:
        super().__init__()
        self.table = table

    def compose(self) -> ComposeResult:
        yield self.table


async def test_rows_reloaded_with_longer_text_are_redrawn_at_the_measured_widths() -> None:
    """The session screen's reload: the table cleared and filled again (an iteration now `completed`,
    not `idle`), a frame drawn before the table's idle, then the idle that sizes the columns."""
    app = OneTable(Table(cursor_type="row"))
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.table
        table.add_columns("#", "Status", "+/-")
        table.add_row("1", "idle", "+1 -0")
        await pilot.pause()
        assert " 1  idle    +1 -0 " in _drawn(app)
        table.clear()
        table.add_row("1", "completed", "+10 -3")
        assert " 1  comple  +10 - " in _drawn(app)  # the old widths, until the idle
        await table._on_idle(events.Idle())  # nothing else runs between
        assert " 1  completed  +10 -3 " in _drawn(app)


async def test_a_cell_that_grows_widens_the_drawn_header() -> None:
    app = OneTable(Table(cursor_type="row"))
    async with app.run_test(size=(60, 8)) as pilot:
        table = app.table
        status, _ = table.add_columns("Status", "Age")
        row = table.add_row("idle", "1s")
        await pilot.pause()
        assert " Status  Age " in _drawn(app)
        table.update_cell(row, status, "running tests", update_width=True)
        assert " Status  Age " in _drawn(app)  # a frame before the idle
        await table._on_idle(events.Idle())
        assert " Status         Age " in _drawn(app)


def test_the_app_tables_are_tables() -> None:
    """No screen or widget builds a plain DataTable (the session list, with fixed widths that are
    never measured, subclasses DataTable and keeps its own sizing)."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "ampsm_tui"
    plain = [
        f"{path.relative_to(package)}:{node.lineno}"
        for folder in ("screens", "widgets")
        for path in sorted((package / folder).glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "DataTable"
    ]
    assert plain == []
    assert issubclass(Timeline, Table)
