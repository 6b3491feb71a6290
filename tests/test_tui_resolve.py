"""Mark resolved goes through the engine (`SessionService.mark_resolved`, under the repo lock): a file
still holding conflict markers is refused; the conflict view uses it, then continues the merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampsm_tui.app import create_app
from ampsm_tui.engine.engine import Engine
from ampsm_tui.engine.errors import AmpsmError, UsageError
from ampsm_tui.screens.conflict import ConflictScreen

from .conftest import git
from .tui_support import make_test_config, settle, use_fakes, wait_for


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_fakes(monkeypatch, tmp_path / "fake-state")


async def kept_merge_conflict(engine: Engine, repo: Path) -> tuple[str, Path]:
    """A session whose hello.txt conflicts with main's; the merge is kept for resolution."""
    session = await engine.sessions.create(repo=repo, name="conflicting", prompt="say hi")
    await engine.sessions.iterate(session.id)
    (repo / "hello.txt").write_text("hello from main\n")
    git(repo, "add", "hello.txt")
    git(repo, "commit", "-q", "-m", "main: hello")
    result = await engine.sessions.merge(session.id, keep_conflict=True)
    assert not result.ok and result.in_progress and result.conflicts == ["hello.txt"]
    assert result.path is not None
    return session.id, Path(result.path)


def unmerged(where: Path) -> list[str]:
    return [p for p in git(where, "diff", "--name-only", "--diff-filter=U").splitlines() if p]


async def test_mark_resolved_refuses_markers_and_stages_a_resolved_file(repo: Path) -> None:
    engine = await Engine.open(make_test_config())
    try:
        sid, where = await kept_merge_conflict(engine, repo)
        with pytest.raises(UsageError, match="conflict markers"):
            await engine.sessions.mark_resolved(sid, "hello.txt")
        assert unmerged(where) == ["hello.txt"]
        with pytest.raises(UsageError, match="not a conflicting file"):
            await engine.sessions.mark_resolved(sid, "README.md")
        with pytest.raises(UsageError, match="inside the checkout"):
            await engine.sessions.mark_resolved(sid, "../outside.txt")
        (where / "hello.txt").write_text("hi\nhello from main\n")
        assert await engine.sessions.mark_resolved(sid, "hello.txt") == where
        assert unmerged(where) == []
        result = await engine.sessions.continue_operation(sid)
        assert result.ok
        assert git(repo, "show", "main:hello.txt") == "hi\nhello from main"
        with pytest.raises(AmpsmError, match="no merge or rebase in progress"):
            await engine.sessions.mark_resolved(sid, "hello.txt")
    finally:
        await engine.close()


@pytest.mark.tui
async def test_conflict_view_marks_resolved_through_the_engine_then_continues(repo: Path) -> None:
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot, rounds=1)
        sid, where = await kept_merge_conflict(app.engine, repo)
        outcome: list[str | None] = []
        app.push_screen(ConflictScreen(sid, "merge", ["hello.txt"], str(where)), outcome.append)
        await settle(pilot)
        view = app.screen
        assert isinstance(view, ConflictScreen)
        await pilot.press("r")
        await settle(pilot)
        assert view.resolved == set()
        assert "conflict markers" in str(view.query_one("#conflict-status").render())
        assert unmerged(where) == ["hello.txt"]
        (where / "hello.txt").write_text("hi\nhello from main\n")
        await pilot.press("r")
        await settle(pilot)
        assert view.resolved == {"hello.txt"} and unmerged(where) == []
        await pilot.press("c")
        assert await wait_for(pilot, lambda: outcome == ["continued"])
    assert git(repo, "show", "main:hello.txt") == "hi\nhello from main"
    assert git(repo, "status", "--porcelain") == ""
