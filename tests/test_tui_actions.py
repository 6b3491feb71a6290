"""Pilot tests of the dashboard's actions on a real repo with the fake amp: `x` cancels a running
iteration, `a` archive and `q` quit ask first, notifications (toast + bell) and the user keymap."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Footer

from ampsm_tui import actions
from ampsm_tui.app import AmpsmApp, create_app
from ampsm_tui.engine.config import ConfigError, load_config
from ampsm_tui.engine.models import BatchItem, BatchRun, SessionStatus
from ampsm_tui.screens.dashboard import DashboardScreen
from ampsm_tui.screens.dialogs import ConfirmScreen
from ampsm_tui.screens.help import HelpScreen, help_table

from .tui_support import dashboard, make_test_config, processes_with, settle, use_fakes, wait_for

pytestmark = pytest.mark.tui


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_fakes(monkeypatch, tmp_path / "fake-state")


async def start_hanging_iteration(app: AmpsmApp, pilot: Any, repo: Path, marker: str) -> str:
    """A session whose iteration hangs (fake amp `hang`), started with `i` like a user would."""
    session = await app.engine.sessions.create(repo=repo, name="hangs", prompt=f"wait forever {marker}")
    dashboard(app).reload()
    await settle(pilot)
    await pilot.press("i")
    await settle(pilot)
    await pilot.press("ctrl+s")

    async def running() -> bool:
        row = await app.store.get_session(session.id)
        return row is not None and row.status is SessionStatus.RUNNING and bool(processes_with(marker))

    assert await wait_for(pilot, running)
    return session.id


async def test_x_cancels_a_running_iteration(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = f"ampsm-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("FAKE_AGENT_MODE", "hang")
    monkeypatch.setenv("FAKE_AGENT_MARKER", marker)
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, rounds=1)
        session_id = await start_hanging_iteration(app, pilot, repo, marker)
        assert app.running_iterations() == 1
        await pilot.press("x")
        assert await wait_for(pilot, lambda: app.running_iterations() == 0)
        await settle(pilot)
        session = await app.store.get_session(session_id)
        assert session is not None and session.status is SessionStatus.INTERRUPTED
        iterations = await app.store.list_iterations(session_id)
        assert [it.status.value for it in iterations] == ["interrupted"]
        assert await wait_for(pilot, lambda: processes_with(marker) == [], tries=50)


async def test_q_asks_while_an_iteration_runs(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = f"ampsm-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("FAKE_AGENT_MODE", "hang")
    monkeypatch.setenv("FAKE_AGENT_MARKER", marker)
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, rounds=1)
        session_id = await start_hanging_iteration(app, pilot, repo, marker)
        await pilot.press("q")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmScreen)
        assert "1 iteration(s) running" in app.screen.question
        await pilot.press("n")  # stay
        await pilot.pause(0.2)
        assert isinstance(app.screen, DashboardScreen) and app.return_code is None
        await pilot.press("q")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")  # quit: the iteration is cancelled with the app
    assert app.return_code == 0
    from ampsm_tui.engine.store import Store

    store = Store.from_config(app.config)
    await store.open()
    try:
        session = await store.get_session(session_id)
    finally:
        await store.close()
    assert session is not None and session.status is SessionStatus.INTERRUPTED
    assert processes_with(marker) == []


async def test_q_quits_at_once_when_idle() -> None:
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, rounds=1)
        await pilot.press("q")
        await pilot.pause(0.2)
    assert app.return_code == 0


@pytest.mark.parametrize("confirm", [True, False])
async def test_a_archive_confirms_when_configured(repo: Path, confirm: bool) -> None:
    config = make_test_config()
    config.ui.confirm_destructive = confirm
    app = create_app(config, cursor_blink=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, rounds=1)
        session = await app.engine.sessions.create(repo=repo, name="to-archive", prompt="x")
        dashboard(app).reload()
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        if confirm:
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            await settle(pilot)
            row = await app.store.get_session(session.id)
            assert row is not None and row.status is SessionStatus.IDLE
            assert Path(session.worktree_path).is_dir()
            await pilot.press("a")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await settle(pilot)
        else:
            assert not isinstance(app.screen, ConfirmScreen)
        row = await app.store.get_session(session.id)
        assert row is not None and row.status is SessionStatus.ARCHIVED
        assert not Path(session.worktree_path).exists()


# -- notifications ---------------------------------------------------------------------------------


def record_alerts(app: AmpsmApp) -> tuple[list[str], list[int]]:
    toasts: list[str] = []
    bells: list[int] = []
    notify = app.notify

    def recording_notify(message: str, **kwargs: Any) -> None:
        toasts.append(message)
        notify(message, **kwargs)

    app.notify = recording_notify  # type: ignore[method-assign]
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    return toasts, bells


@pytest.mark.parametrize(
    ("notifications", "bell", "want_toasts", "want_bells"),
    [(True, True, 3, 3), (True, False, 3, 0), (False, True, 0, 0)],
)
async def test_notifications_on_awaiting_input_error_and_batch_end(
    repo: Path, notifications: bool, bell: bool, want_toasts: int, want_bells: int
) -> None:
    config = make_test_config()
    config.ui.notifications = notifications
    config.ui.bell = bell
    app = create_app(config, cursor_blink=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, rounds=1)
        one = await app.engine.sessions.create(repo=repo, name="needs-input", prompt="x")
        two = await app.engine.sessions.create(repo=repo, name="breaks", prompt="x")
        run = BatchRun(id="batch-n", name="nightly", status="running")
        item = BatchItem(
            id="bi-n", batch_id=run.id, ordinal=0, name="i", repo_path=str(repo), base_branch="main", prompt="x"
        )
        await app.store.create_batch(run, [item])
        dashboard(app).reload()
        await settle(pilot)
        toasts, bells = record_alerts(app)
        await app.store.set_session_status(one.id, SessionStatus.AWAITING_INPUT)
        await app.store.set_session_status(two.id, SessionStatus.ERROR, last_error="agent exited with 1")
        await app.store.update_batch(run.id, status="succeeded")
        dashboard(app).reload()
        await settle(pilot)
        alerts = [t for t in toasts if "needs input" in t or "failed" in t or "finished" in t]
        assert len(alerts) == want_toasts, toasts
        assert len(bells) == want_bells
        if notifications:
            assert any(f"needs-input ({one.id}) needs input" in t for t in alerts)
            assert any(f"breaks ({two.id}) failed: agent exited with 1" in t for t in alerts)
            assert any("Batch batch-n finished" in t for t in alerts)
        # nothing changed: no repeat
        dashboard(app).reload()
        await settle(pilot)
        assert len(bells) == want_bells


# -- user keymap ------------------------------------------------------------------------------------


def test_keymap_unknown_action_is_a_config_error(isolated_env: Path) -> None:
    (isolated_env / "config.yaml").write_text("ui:\n  keymap:\n    iterate: ctrl+i\n    launch_rockets: z\n")
    with pytest.raises(ConfigError) as info:
        load_config()
    text = str(info.value)
    assert "launch_rockets" in text and "ui.keymap" in text and "config.yaml:2" in text  # the ui.keymap line


async def test_keymap_rebinds_and_shows_in_footer_and_help(isolated_env: Path) -> None:
    (isolated_env / "config.yaml").write_text("ui:\n  auto_update: false\n  keymap:\n    new_session: ctrl+n\n")
    config = load_config()
    config.ui.bell = False
    app = create_app(config, cursor_blink=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, rounds=1)
        footer_keys = {b.id: b.key for (_, b, _, _) in app.screen.active_bindings.values() if b.id == "new_session"}
        assert footer_keys == {"new_session": "ctrl+n"}
        await pilot.press("n")  # the old key does nothing now
        await settle(pilot, rounds=1)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("ctrl+n")
        await settle(pilot, rounds=1)
        from ampsm_tui.screens.new_session import NewSessionScreen

        assert isinstance(app.screen, NewSessionScreen)
        await pilot.press("escape")
        await settle(pilot, rounds=1)
        footer = app.screen.query_one(Footer)
        await pilot.pause(0.1)
        rendered = " ".join(str(child.render()) for child in footer.children)
        assert "^n" in rendered or "ctrl+n" in rendered, rendered
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "New (ctrl+n)" in titles
        await pilot.press("question_mark")
        await settle(pilot, rounds=1)
        assert isinstance(app.screen, HelpScreen)
    new = actions.by_id("new_session")
    table = help_table({"new_session": "ctrl+n"})
    keys = [str(cell) for cell in table.columns[0]._cells]
    helps = [str(cell) for cell in table.columns[1]._cells]
    assert keys[helps.index(new.help)] == "ctrl+n"
