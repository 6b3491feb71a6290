"""Keyboard-only use of the forms: tab / shift+tab walk every field in order, also when the keys
arrive in one burst (tmux send-keys, a paste, a fast typist), and the prompt editor never keeps
the focus: tab leaves it, ctrl+s submits from it, escape cancels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.widgets import TextArea

from ampsm_tui import actions
from ampsm_tui.app import AmpsmApp, create_app
from ampsm_tui.screens.dialogs import PromptScreen
from ampsm_tui.screens.new_session import NewSessionRequest, NewSessionScreen

from .tui_support import fixed_clock, make_test_config, settle, stand_in_factory

pytestmark = pytest.mark.tui

FORM_ORDER = [
    "repo",
    "name",
    "prompt",
    "script",
    "agent",
    "model",
    "timeout",
    "agent_cmd",
    "agents",
    "n",
    "base",
    "run_now",
    "create",
    "cancel",
]


def make_app() -> AmpsmApp:
    return create_app(make_test_config(), engine_factory=stand_in_factory, clock=fixed_clock, cursor_blink=False)


async def burst(pilot: Any, *keys: str) -> None:
    """Keys delivered the way a terminal read delivers them: all queued before any is handled
    (what `tmux send-keys name Tab prompt` does), then one wait."""
    driver = pilot.app._driver
    for key in keys:
        char = key if len(key) == 1 else ("\t" if key == "tab" else None)
        event = events.Key(key, char)
        event.set_sender(pilot.app)
        driver.send_message(event)
    await pilot.pause()
    await settle(pilot, rounds=1)


async def open_form(pilot: Any, app: AmpsmApp, repo: str) -> NewSessionScreen:
    await settle(pilot, rounds=1)
    form = NewSessionScreen(repo=repo)
    app.push_screen(form)
    await settle(pilot, rounds=1)
    return form


def focused_id(app: AmpsmApp) -> str | None:
    return app.focused.id if app.focused is not None else None


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_tab_and_shift_tab_walk_every_field_in_order(tmp_path: Path, size: tuple[int, int]) -> None:
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await open_form(pilot, app, str(tmp_path))
        assert focused_id(app) == "name"
        app.screen.query_one("#repo").focus()
        await pilot.pause()
        seen = [focused_id(app)]
        for _ in FORM_ORDER[1:]:
            await pilot.press("tab")
            seen.append(focused_id(app))
        assert seen == FORM_ORDER
        back = [focused_id(app)]
        for _ in FORM_ORDER[1:]:
            await pilot.press("shift+tab")
            back.append(focused_id(app))
        assert back == list(reversed(FORM_ORDER))


async def test_typed_name_then_tab_in_one_burst_moves_to_the_prompt(tmp_path: Path) -> None:
    """The tmux bug: `send-keys myname Tab hello` put "mynamehello" in the name field."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot, app, str(tmp_path))
        await burst(pilot, *"fix-it", "tab", *"hello", "tab", *"true")
        assert form.query_one("#name").value == "fix-it"  # type: ignore[attr-defined]
        assert form.query_one("#prompt", TextArea).text == "hello"
        assert form.query_one("#script").value == "true"  # type: ignore[attr-defined]
        # walking back and typing appends (the field is not selected on focus, so nothing is lost)
        await burst(pilot, "shift+tab", "shift+tab", *"-2")
        assert form.query_one("#name").value == "fix-it-2"  # type: ignore[attr-defined]


async def test_prompt_editor_does_not_keep_tab_and_ctrl_s_submits_from_it(tmp_path: Path) -> None:
    app = make_app()
    results: list[NewSessionRequest | None] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, rounds=1)
        app.push_screen(NewSessionScreen(repo=str(tmp_path)), results.append)
        await settle(pilot, rounds=1)
        await pilot.press(*"n1", "tab")
        assert focused_id(app) == "prompt"
        await pilot.press(*"line one", "enter", *"line two", "tab")
        assert focused_id(app) == "script"  # tab left the editor; enter stayed a newline
        await pilot.press("shift+tab")
        assert focused_id(app) == "prompt"
        await pilot.press("ctrl+s")
        await settle(pilot, rounds=1)
    assert len(results) == 1 and results[0] is not None
    assert results[0].name == "n1"
    assert results[0].prompt == "line one\nline two"


async def test_escape_in_the_prompt_editor_cancels(tmp_path: Path) -> None:
    app = make_app()
    results: list[Any] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, rounds=1)
        app.push_screen(NewSessionScreen(repo=str(tmp_path)), results.append)
        await settle(pilot, rounds=1)
        await pilot.press("tab")
        assert focused_id(app) == "prompt"
        await pilot.press(*"abc", "escape")
        await settle(pilot, rounds=1)
        assert not isinstance(app.screen, NewSessionScreen)
    assert results == [None]


async def test_follow_up_prompt_dialog_tab_reaches_its_buttons() -> None:
    app = make_app()
    results: list[Any] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, rounds=1)
        app.push_screen(PromptScreen("Iterate"), results.append)
        await settle(pilot, rounds=1)
        await burst(pilot, *"go", "tab")
        assert focused_id(app) == "ok"
        await pilot.press("shift+tab", *"!", "ctrl+s")
        await settle(pilot, rounds=1)
    assert results == ["go!"]


def test_form_keys_are_in_the_registry_and_the_help() -> None:
    from ampsm_tui.screens.help import help_table

    ids = {a.id for a in actions.in_context("form")}
    assert {"next_field", "prev_field", "submit", "close"} <= ids
    assert actions.by_id("next_field").priority and actions.by_id("prev_field").priority
    rendered = str([str(cell) for col in help_table().columns for cell in col._cells])
    assert "shift+tab" in rendered and "ctrl+s" in rendered
