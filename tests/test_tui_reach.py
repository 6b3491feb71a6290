"""Every action of the registry is reachable without a mouse: bound (by its id) on a screen that
implements it, listed in `?` help, and each screen's footer at 80 columns shows that screen's
important keys. Screens are opened with keys only, as a user over SSH would."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App
from textual.binding import Binding

from ampsm_tui import actions
from ampsm_tui.app import AmpsmApp, create_app
from ampsm_tui.screens.batches import BatchesScreen
from ampsm_tui.screens.bench import BenchScreen
from ampsm_tui.screens.chat import ChatScreen
from ampsm_tui.screens.conflict import ConflictScreen
from ampsm_tui.screens.dashboard import DashboardScreen
from ampsm_tui.screens.dialogs import ConfirmScreen, PromptScreen
from ampsm_tui.screens.diff import DiffScreen
from ampsm_tui.screens.help import HelpScreen, help_table
from ampsm_tui.screens.new_session import NewSessionScreen
from ampsm_tui.screens.review import ReviewScreen
from ampsm_tui.screens.session import SessionScreen
from ampsm_tui.widgets.diff_view import DiffView

from .tui_support import fixed_clock, make_test_config, screen_text, seed_async, settle, stand_in_factory

pytestmark = pytest.mark.tui

HOLDERS: tuple[type[Any], ...] = (
    AmpsmApp,
    DashboardScreen,
    SessionScreen,
    DiffScreen,
    DiffView,
    ReviewScreen,
    ConflictScreen,
    ChatScreen,
    NewSessionScreen,
    PromptScreen,
    ConfirmScreen,
    HelpScreen,
    BatchesScreen,
    BenchScreen,
)


def bound_ids(cls: type[Any]) -> dict[str, str]:
    """action id -> the action name it runs, for the bindings `cls` declares."""
    out: dict[str, str] = {}
    for binding in cls.BINDINGS:
        if isinstance(binding, Binding) and binding.id:
            out[binding.id] = binding.action
    return out


def implements(cls: type[Any], action: str) -> bool:
    if action.startswith("app."):
        return hasattr(AmpsmApp, f"action_{action[4:]}")
    return hasattr(cls, f"action_{action}")


def test_every_registry_action_is_bound_and_implemented_somewhere() -> None:
    missing = []
    for action in actions.ACTIONS:
        if action.id in ("command_palette", "change_theme"):
            assert hasattr(App, f"action_{action.id}")  # Textual's own, bound by the registry on the app
            assert action.id in bound_ids(AmpsmApp)
            continue
        holders = [cls for cls in HOLDERS if action.id in bound_ids(cls)]
        if not holders or not all(implements(cls, bound_ids(cls)[action.id]) for cls in holders):
            missing.append(action.id)
    assert missing == []


def test_every_action_is_in_the_help() -> None:
    table = help_table()
    helps = {str(cell) for column in table.columns for cell in column._cells}
    assert all(action.help in helps for action in actions.ACTIONS)


async def make_app(*, every_status: bool = True, batch: bool = True) -> AmpsmApp:
    config = make_test_config()
    await seed_async(config, every_status=every_status, batch=batch)
    return create_app(config, engine_factory=stand_in_factory, clock=fixed_clock, cursor_blink=False)


#: keys to reach the screen from the dashboard, the screen, keys its 80-column footer must show
SCREENS: list[tuple[tuple[str, ...], type[Any], tuple[str, ...]]] = [
    ((), DashboardScreen, ("q Quit", "? Help", "b Batches", "n New", "i Iterate", "d Diff", "m Merge")),
    (("enter",), SessionScreen, ("esc Back", "i Iterate", "c Chat", "d Diff", "m Merge", "e Expand")),
    (("d",), DiffScreen, ("] Next file", "[ Prev file", "l Branch/last", "esc Back")),
    (("m",), ReviewScreen, ("esc Back", "^g Merge", "s Squash", "r Rebase", "t Retest", "e Message")),
    (("c",), ChatScreen, ("esc Back", "^s Send")),
    (("b",), BatchesScreen, ("esc Back", "⏎ Open", "? Help")),
    (("B",), BenchScreen, ("esc Back", "⏎ Open", "? Help")),
]


@pytest.mark.parametrize(("keys", "screen_type", "expected"), SCREENS, ids=[s[1].__name__ for s in SCREENS])
async def test_footer_at_80_columns_shows_the_screens_keys(
    keys: tuple[str, ...], screen_type: type[Any], expected: tuple[str, ...]
) -> None:
    app = await make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        assert isinstance(app.screen, screen_type)
        footer = screen_text(app).splitlines()[-1]
        for key in expected:
            assert key in footer, (key, footer)


async def test_batches_and_bench_are_not_offered_on_their_own_screen() -> None:
    app = await make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert "b Batches" in screen_text(app).splitlines()[-1]
        await pilot.press("b")
        await settle(pilot)
        assert "Batches" not in screen_text(app).splitlines()[-1]
        depth = len(app.screen_stack)
        await pilot.press("b")  # does nothing here
        await settle(pilot)
        assert len(app.screen_stack) == depth and isinstance(app.screen, BatchesScreen)


async def test_batch_monitor_by_keys_only_enter_goes_from_batch_to_items_to_session() -> None:
    app = await make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, BatchesScreen)
        assert app.focused is not None and app.focused.id == "batches"
        await pilot.press("enter")
        assert app.focused is not None and app.focused.id == "items"
        await pilot.press("enter")  # the seeded items have no session yet: says so, stays
        await settle(pilot)
        assert app.screen is screen
        assert any("no session yet" in str(n.message) for n in app._notifications)
