"""The dashboard's first paint does only what the first frame shows (issue 16): tabs and the filter box
are built when asked for, the theme costs no second parse of every stylesheet, and the sessions list
never measures its cells (its columns have fixed widths). Figures: bench/tui_first_paint.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from textual.css.stylesheet import Stylesheet
from textual.widgets import DataTable, Input, TabbedContent
from textual.widgets import _data_table as data_table_module

from ampsm_tui.app import create_app
from ampsm_tui.screens.dashboard import DashboardScreen
from ampsm_tui.widgets.session_list import SessionTable
from ampsm_tui.widgets.timeline import Timeline

from .tui_support import FIXED_NOW, make_test_config, screen_text, seed_async, settle, stand_in_factory, wait_for

pytestmark = pytest.mark.tui


class Clock:
    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self) -> Any:
        return self.now


async def _app(clock: Any = None, theme: str = "gruvbox") -> Any:
    config = make_test_config()
    config.ui.theme = theme
    await seed_async(config)
    return create_app(config, engine_factory=stand_in_factory, clock=clock or Clock(), cursor_blink=False)


def dash(app: Any) -> DashboardScreen:
    screen = app.screen
    assert isinstance(screen, DashboardScreen), type(screen)
    return screen


async def test_narrow_dashboard_builds_tabs_and_filter_only_when_asked() -> None:
    app = await _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert dash(app).query_one(SessionTable).row_count == 7
        # hidden at 80 columns: never built for the first paint, nor after it
        assert not dash(app).query(TabbedContent) and not dash(app).query(Timeline) and not dash(app).query("#filter")
        await pilot.press("2")  # the timeline tab, in the output's place
        await settle(pilot)
        assert dash(app).query_one(TabbedContent).active == "tab-timeline"
        assert dash(app).has_class("-tab")
        selected = dash(app).selected
        iterations = await app.store.list_iterations(selected)
        assert iterations and dash(app).query_one(Timeline).row_count == len(iterations)
        await pilot.press("2")  # the output back
        await pilot.press("slash")
        await pilot.press(*"docs")
        box = dash(app).query_one("#filter", Input)
        assert box.value == "docs" and box.has_focus
        await pilot.press("enter")
        await settle(pilot)
        assert [r.session.name for r in dash(app).query_one(SessionTable).visible_rows()] == ["docs-readme"]
        await pilot.press("escape")  # esc clears the filter box it mounted
        await settle(pilot)
        assert dash(app).query_one(SessionTable).row_count == 7 and not box.has_class("-visible")


async def test_wide_dashboard_fills_the_tabs_after_the_rows() -> None:
    app = await _app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert await wait_for(
            pilot, lambda: bool(dash(app).query(Timeline)) and dash(app).query_one(Timeline).row_count
        )
        assert "Diff" in screen_text(app) and "Timeline" in screen_text(app)


async def test_narrow_then_wide_builds_the_tabs() -> None:
    app = await _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not dash(app).query(TabbedContent)
        await pilot.resize_terminal(160, 48)
        await settle(pilot)
        assert await wait_for(pilot, lambda: bool(dash(app).query(TabbedContent)))


async def test_the_configured_theme_costs_no_second_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    reparses: list[int] = []
    original = Stylesheet.reparse

    def counting(self: Stylesheet) -> None:
        reparses.append(1)
        original(self)

    monkeypatch.setattr(Stylesheet, "reparse", counting)
    app = await _app(theme="nord")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == "nord" and app.has_class("-theme-nord") and app.has_class("-dark-mode")
        nord = app.available_themes["nord"]
        assert app.stylesheet._variables["primary"] == nord.primary
        assert dash(app).query_one(SessionTable).styles.background != app.available_themes["textual-dark"].background
        assert reparses == []
        app.theme = "gruvbox"  # a later change goes through Textual's own path
        await settle(pilot)
        assert reparses and app.has_class("-theme-gruvbox") and not app.has_class("-theme-nord")


async def test_session_list_never_measures_its_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    measured: list[str] = []
    original = data_table_module.measure

    def counting(console: Any, renderable: Any, *args: Any) -> int:
        measured.append(str(renderable))
        return original(console, renderable, *args)

    monkeypatch.setattr(data_table_module, "measure", counting)
    clock = Clock()
    app = await _app(clock=clock)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        table = dash(app).query_one(SessionTable)
        assert table.row_count == 7
        clock.now = FIXED_NOW + timedelta(minutes=5)  # ages tick: cells get updated in place
        await pilot.pause(1.2)
        await settle(pilot)
        names = {r.session.name for r in table.visible_rows()}
        assert not names & set(measured), measured
        # ...and the virtual size is what DataTable's own measuring would give
        size = table.virtual_size
        DataTable._update_dimensions(table, list(table.rows))
        assert table.virtual_size == size


async def test_tabs_built_after_an_empty_list_show_their_empty_states() -> None:
    """The list loads empty on a narrow terminal; the tabs are built later, on a resize to wide: their
    diff still says there is nothing to show, as when they are built first (it used to stay blank)."""
    config = make_test_config()
    await seed_async(config, every_status=False)
    app = create_app(config, engine_factory=stand_in_factory, clock=Clock(), cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert dash(app).query_one(SessionTable).row_count == 0 and not dash(app).query(TabbedContent)
        await pilot.resize_terminal(140, 40)
        assert await wait_for(pilot, lambda: bool(dash(app).query(TabbedContent)))
        await settle(pilot)
        assert await wait_for(pilot, lambda: "No changes on this branch yet." in screen_text(app))
