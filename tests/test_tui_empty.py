"""Empty states: a screen with nothing to list says, in one line, which key or command fills it,
and the line goes away once there is something to show."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from ampsm_tui.app import AmpsmApp, create_app
from ampsm_tui.engine.bench.models import BenchMode, BenchRun
from ampsm_tui.engine.config import Config
from ampsm_tui.engine.models import Session
from ampsm_tui.screens.batches import BatchesScreen
from ampsm_tui.screens.bench import BenchScreen

from .tui_support import fixed_clock, make_test_config, screen_text, seed_batch, settle, stand_in_factory

pytestmark = pytest.mark.tui


def make_app(config: Config | None = None) -> AmpsmApp:
    return create_app(
        config or make_test_config(), engine_factory=stand_in_factory, clock=fixed_clock, cursor_blink=False
    )


def hint(app: AmpsmApp, selector: str) -> str:
    widget = app.screen.query_one(selector, Static)
    return str(widget.render()) if widget.display else ""


async def test_empty_dashboard_says_which_key_creates_a_session() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        line = "No sessions yet: press n to create one"
        assert line in hint(app, "#sessions-empty")
        assert line in screen_text(app)
        # once a session exists the hint is gone...
        await app.store.create_session(
            Session(id="sess-1", name="one", repo_path="/r", base_branch="main", branch="b", worktree_path="/r/w")
        )
        app.screen.reload()  # type: ignore[attr-defined]
        await settle(pilot)
        assert hint(app, "#sessions-empty") == ""
        # ...and a filter matching nothing says how to clear it
        await pilot.press("slash", *"zzz")
        await settle(pilot)
        assert "No session matches “zzz”: esc clears the filter" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert hint(app, "#sessions-empty") == ""


async def test_empty_dashboard_hint_follows_the_user_keymap() -> None:
    config = make_test_config()
    config.ui.keymap = {"new_session": "ctrl+n"}
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "press ctrl+n to create one" in hint(app, "#sessions-empty")


async def test_batch_monitor_without_batches_shows_the_command() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, BatchesScreen)
        assert "No batches yet: ampsm batch start --file F" in screen_text(app)
        await seed_batch(app.store)
        app.screen.reload()
        await settle(pilot)
        assert hint(app, "#batches-empty") == ""
        assert "nightly-refactors" in screen_text(app)


async def test_bench_screen_without_runs_shows_the_command() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("B")
        await settle(pilot)
        assert isinstance(app.screen, BenchScreen)
        assert "No benchmark runs yet: ampsm bench start --dataset FILE" in screen_text(app)
        await app.store.create_bench_run(BenchRun(id="bench-run-1", mode=BenchMode.AGENTS, dataset_path="/d/x.jsonl"))
        app.screen.reload()
        await settle(pilot)
        assert hint(app, "#bench-empty") == ""
        assert "bench-run-1" in screen_text(app)
