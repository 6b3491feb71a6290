"""Pilot tests of the real app on a real repo with the real engine and the fake amp on PATH."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from ampsm_tui.app import create_app
from ampsm_tui.screens.conflict import ConflictScreen
from ampsm_tui.screens.diff import DiffScreen
from ampsm_tui.screens.new_session import NewSessionScreen
from ampsm_tui.screens.review import ReviewScreen
from ampsm_tui.widgets.diff_view import DiffView
from ampsm_tui.widgets.output_log import OutputLog

from .conftest import FAKES, git, run_cli
from .tui_support import dashboard, make_test_config

pytestmark = pytest.mark.tui


@pytest.fixture(autouse=True)
def fake_amp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AMP_API_KEY", "test-key")
    monkeypatch.setenv("FAKE_AGENT_STATE", str(tmp_path / "fake-state"))


async def settle(pilot: Pilot[Any], rounds: int = 3) -> None:
    for _ in range(rounds):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:  # an exclusive reload replaced an older one
            continue
        await pilot.pause(0.1)


async def test_create_iterate_diff_review_merge(repo: Path) -> None:
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        # create the session through the form
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, NewSessionScreen)
        form.query_one("#repo").value = str(repo)  # type: ignore[attr-defined]
        form.query_one("#name").focus()
        await pilot.press(*"add-hello")
        form.query_one("#prompt").focus()
        await pilot.press(*"say hi")
        form.query_one("#run_now").value = False  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await settle(pilot)
        sessions = await app.store.list_sessions()
        assert [s.name for s in sessions] == ["add-hello"]
        session = sessions[0]
        assert Path(session.worktree_path).is_dir()
        assert dashboard(app).selected == session.id

        # iterate with a follow-up prompt; the output pane shows the streamed text and the tool call
        await pilot.press("i")
        await settle(pilot)
        await pilot.press(*"write hello")
        await pilot.press("ctrl+s")
        await settle(pilot)
        output = dashboard(app).query_one(OutputLog)
        output.flush()
        lines = output.plain_lines
        assert "Created hello.txt containing hi." in lines
        assert any(line.startswith("⚙ Bash") and "hello" in line for line in lines), lines
        iterations = await app.store.list_iterations(session.id)
        assert len(iterations) == 1 and iterations[0].commit_sha

        # the diff viewer shows the new file
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, DiffScreen)
        view = app.screen.query_one(DiffView)
        assert [f.path for f in view.files] == ["hello.txt"]
        assert view.files[0].added == 1
        await pilot.press("escape")
        await settle(pilot)

        # review & merge: squash (default) + merge
        await pilot.press("m")
        await settle(pilot)
        review = app.screen
        assert isinstance(review, ReviewScreen)
        message = review.query_one("#message").text  # type: ignore[attr-defined]
        assert message.startswith("feat: add hello")
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert review.finished, [str(s) for s in review.steps]

    assert git(repo, "show", "main:hello.txt") == "hi"
    assert git(repo, "log", "-1", "--format=%s", "main") == "feat: add hello"
    assert not Path(session.worktree_path).exists()
    assert git(repo, "status", "--porcelain") == ""


async def test_merge_conflict_abort_leaves_repo_as_before(repo: Path) -> None:
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        session = await app.engine.sessions.create(repo=repo, name="conflicting", prompt="say hi")
        await app.engine.sessions.iterate(session.id)
        # main gets a different hello.txt meanwhile
        (repo / "hello.txt").write_text("hello from main\n")
        git(repo, "add", "hello.txt")
        git(repo, "commit", "-q", "-m", "main: hello")
        before_head = git(repo, "rev-parse", "HEAD")
        before_status = git(repo, "status", "--porcelain")
        dashboard(app).reload()
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        review = app.screen
        assert isinstance(review, ReviewScreen)
        await pilot.press("s", "r")  # keep history, no rebase: the merge itself conflicts
        assert (review.squash, review.rebase) == (False, False)
        await pilot.press("ctrl+g")
        for _ in range(20):
            await pilot.pause(0.1)
            if isinstance(app.screen, ConflictScreen):
                break
        conflict = app.screen
        assert isinstance(conflict, ConflictScreen)
        assert conflict.files == ["hello.txt"]
        await pilot.press("a")
        await settle(pilot)
        assert app.screen is review
        assert not review.finished

    assert git(repo, "rev-parse", "HEAD") == before_head
    assert git(repo, "status", "--porcelain") == before_status
    assert not (repo / ".git" / "MERGE_HEAD").exists()
    assert (repo / "hello.txt").read_text() == "hello from main\n"
    assert Path(session.worktree_path).is_dir()


async def test_abort_after_squash_restores_the_branch_as_before_the_review(repo: Path) -> None:
    """Squash, then a rebase that conflicts, then abort: the branch is back at its old tip (the
    squash is undone), the worktree and main are untouched."""
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        session = await app.engine.sessions.create(repo=repo, name="conflicting", prompt="say hi")
        await app.engine.sessions.iterate(session.id)
        await app.engine.sessions.iterate(session.id, "again")
        wt = Path(session.worktree_path)
        tip_before = git(wt, "rev-parse", "HEAD")
        (repo / "hello.txt").write_text("hello from main\n")
        git(repo, "add", "hello.txt")
        git(repo, "commit", "-q", "-m", "main: hello")
        main_before = git(repo, "rev-parse", "HEAD")
        dashboard(app).reload()
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        review = app.screen
        assert isinstance(review, ReviewScreen)
        assert (review.squash, review.rebase) == (True, True)
        await pilot.press("ctrl+g")
        for _ in range(30):
            await pilot.pause(0.1)
            if isinstance(app.screen, ConflictScreen):
                break
        assert isinstance(app.screen, ConflictScreen)
        assert git(wt, "rev-parse", "HEAD") != tip_before or git(wt, "status", "--porcelain")
        await pilot.press("a")
        await settle(pilot)
        assert app.screen is review and not review.finished
        assert any("squash undone" in str(step) for step in review.steps), [str(s) for s in review.steps]

    assert git(wt, "rev-parse", "HEAD") == tip_before
    assert git(wt, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "HEAD") == main_before and git(repo, "status", "--porcelain") == ""


async def test_session_from_another_process_appears(repo: Path) -> None:
    config = make_test_config(auto_update=True)
    app = create_app(config, cursor_blink=False, poll_interval=0.1)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        assert dashboard(app).sessions == {}
        result = run_cli("new", "--repo", str(repo), "--name", "from-cli", "--agent", "command", "--agent-cmd", "true")
        assert result.returncode == 0, result.stderr
        for _ in range(50):
            await pilot.pause(0.1)
            if dashboard(app).sessions:
                break
        names = [s.name for s in dashboard(app).sessions.values()]
        assert names == ["from-cli"]
        table = dashboard(app).query_one("#sessions")
        assert table.row_count == 1  # type: ignore[attr-defined]

        # ...and an iteration run by that other process updates the row
        sid = next(iter(dashboard(app).sessions))
        result = run_cli("iterate", sid)
        assert result.returncode == 0, result.stderr
        for _ in range(50):
            await pilot.pause(0.1)
            if table.get_cell(sid, "iters") == "1":  # type: ignore[attr-defined]
                break
        assert table.get_cell(sid, "iters") == "1"  # type: ignore[attr-defined]
