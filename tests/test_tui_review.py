"""The review & merge wizard without a mouse at 80x24: every step of the plan and its outcome is on
screen with its key, the letters change the plan, escape leaves the message editor before it
leaves the wizard, and a whole squash -> rebase -> test -> merge run ends with main merged."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import OptionList, TextArea

from ampsm_tui.app import AmpsmApp, create_app
from ampsm_tui.screens.review import ReviewScreen

from .conftest import git
from .tui_support import (
    fixed_clock,
    make_test_config,
    open_store,
    screen_text,
    seed_every_status,
    settle,
    stand_in_factory,
    wait_for,
)

pytestmark = pytest.mark.tui

STEP_LINES = (
    "s ■ Squash into one commit",
    "r ■ Rebase onto main",
    "t ■ Re-run tests: pytest -q",
    "^g ▶ Merge into main",
)


async def seeded_app() -> AmpsmApp:
    config = make_test_config()
    store = await open_store(config)
    try:
        await seed_every_status(store)
    finally:
        await store.close()
    return create_app(config, engine_factory=stand_in_factory, clock=fixed_clock, cursor_blink=False)


async def open_review(pilot: object, app: AmpsmApp) -> ReviewScreen:
    await settle(pilot)
    await pilot.press("m")  # type: ignore[attr-defined]
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, ReviewScreen)
    return screen


async def test_every_step_and_the_message_are_visible_at_80x24() -> None:
    app = await seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        review = await open_review(pilot, app)
        text = screen_text(app)
        for line in STEP_LINES:
            assert line in text, text
        assert "feat: add subtraction" in text  # the message editor
        assert "app.py" in text  # and the diff, on the same screen
        footer = text.splitlines()[-1]
        for key in ("^g Merge", "s Squash", "r Rebase", "t Retest", "e Message"):
            assert key in footer, footer
        assert isinstance(app.focused, OptionList) and app.focused.id == "plan"
        assert review.has_class("-stacked")


async def test_letters_change_the_plan_and_show_it() -> None:
    app = await seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        review = await open_review(pilot, app)
        await pilot.press("s", "r", "t")
        assert (review.squash, review.rebase, review.retest) == (False, False, False)
        text = screen_text(app)
        assert "s □ Keep history (no squash)" in text
        assert "r □ Rebase onto main (skip)" in text
        assert "t □ Re-run tests: pytest -q (skip)" in text
        # enter on a highlighted step toggles it too (arrows + enter, no letters needed)
        await pilot.press("up", "up", "up", "up", "enter")
        assert review.squash


async def test_escape_leaves_the_message_editor_then_the_wizard() -> None:
    app = await seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        review = await open_review(pilot, app)
        await pilot.press("e")
        assert isinstance(app.focused, TextArea)
        await pilot.press("end", *" (edited)", "escape")
        assert app.screen is review  # escape left the editor, not the wizard
        assert review.query_one("#message", TextArea).text.splitlines()[0] == "feat: add subtraction (edited)"
        assert app.focused is not None and app.focused.id == "plan"
        await pilot.press("s")  # letters act on the plan again
        assert not review.squash
        await pilot.press("o")
        await pilot.press("ctrl+u", *"release", "enter")
        assert review.onto == "release"
        assert "r ■ Rebase onto release" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is not review


async def test_a_whole_merge_by_keys_at_80x24_shows_each_outcome(repo: Path) -> None:
    app = create_app(make_test_config(), cursor_blink=False, clock=fixed_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        session = await app.engine.sessions.create(
            repo=repo,
            name="greet",
            prompt="add greet",
            agent="command",
            agent_cmd="sh -c 'echo \"def greet(): return 1\" > greet.py'",
            script="test -f greet.py",
        )
        iteration = await app.engine.sessions.iterate(session.id)
        assert iteration.commit_sha and iteration.test_exit_code == 0
        app.screen.reload()  # type: ignore[attr-defined]
        review = await open_review(pilot, app)
        lands: list[object] = []
        app.engine.bus.subscribe("land.*", lands.append)  # the wizard is ReviewService.land, as `ampsm land` is
        await pilot.press("ctrl+g")
        assert await wait_for(pilot, lambda: review.finished or (not review.running and len(review.outcomes) >= 4))
        await settle(pilot)
        text = screen_text(app)
        assert review.finished, text
        for outcome in ("✓ squashed into", "✓ rebased onto main", "✓ tests passed", "✓ merged into main"):
            assert outcome in text, text
        assert [(e.topic, getattr(e, "step", None)) for e in lands] == [  # type: ignore[attr-defined]
            ("land.step", "squash"),
            ("land.step", "rebase"),
            ("land.step", "retest"),
            ("land.step", "merge"),
            ("land.finished", None),
        ]
    assert git(repo, "show", "main:greet.py").startswith("def greet")
    assert not Path(session.worktree_path).exists()


def test_the_plan_shows_the_test_command_without_its_long_path() -> None:
    from ampsm_tui.screens.review import short_command

    assert short_command("/tmp/clone/.venv/bin/python -m unittest -q") == "python -m unittest -q"
    assert short_command("pytest -q") == "pytest -q"
    assert short_command(None) is None
