"""The demo's first-time hint: it names real keys from the registry and leaves the screen as soon
as the user opens something (it would otherwise cover the conflict view or the help)."""

from __future__ import annotations

import pytest

from ampsm_tui import actions
from ampsm_tui.app import create_app
from ampsm_tui.demo.tui import clear_hint_once_moved_on, first_time_hint

from .tui_support import fixed_clock, make_test_config, settle, stand_in_factory

pytestmark = pytest.mark.tui


def test_hint_names_the_registry_keys() -> None:
    hint = first_time_hint()
    for action_id in ("open_session", "diff", "review", "batches", "help", "quit"):
        action = actions.by_id(action_id)
        assert f"{action.display_keys} {action.description.lower()}" in hint


async def test_hint_goes_once_a_screen_is_opened() -> None:
    app = create_app(make_test_config(), engine_factory=stand_in_factory, clock=fixed_clock, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.notify(first_time_hint(), title="ampsm demo", timeout=40)
        await pilot.pause()
        holder = {"hint": app.set_interval(0.05, lambda: None)}
        clear_hint_once_moved_on(app, holder)  # still on the dashboard: the hint stays
        assert len(app._notifications) == 1 and "hint" in holder
        await pilot.press("question_mark")
        await settle(pilot)
        clear_hint_once_moved_on(app, holder)
        assert len(app._notifications) == 0 and "hint" not in holder
