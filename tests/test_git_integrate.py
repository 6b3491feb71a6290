"""Squash, rebase and merge on real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampsm_tui.engine.errors import AmpsmError, ErrorCode
from ampsm_tui.engine.git import WorktreeInfo, create_worktree
from ampsm_tui.engine.git.commits import commit_iteration
from ampsm_tui.engine.git.integrate import abort_operation, continue_operation, merge, rebase, squash
from ampsm_tui.engine.git.repo import current_operation
from tests.git_helpers import commit_all, git, state, write


async def _session_with_history(repo: Path) -> WorktreeInfo:
    """3 amp: commits and 1 manual commit in the middle."""
    info = await create_worktree(repo, "sess-1", "work", "main")
    wt = Path(info.path)
    write(wt / "a.txt", "a1\n")
    await commit_iteration(wt, "one", session_id="sess-1", iteration=1)
    write(wt / "manual.txt", "by hand\n")
    commit_all(wt, "manual: my fix")
    write(wt / "a.txt", "a1\na2\n")
    await commit_iteration(wt, "two", session_id="sess-1", iteration=2)
    write(wt / "b.txt", "b\n")
    await commit_iteration(wt, "three", session_id="sess-1", iteration=3)
    return info


def _log(wt: Path, base: str = "main") -> list[str]:
    return git(wt, "log", "--reverse", "--format=%s", f"{base}..HEAD").splitlines()


async def test_squash_keep_manual(repo: Path) -> None:
    info = await _session_with_history(repo)
    wt = Path(info.path)
    tree = git(wt, "rev-parse", "HEAD^{tree}")
    manual_author = git(wt, "log", "-1", "--format=%an %ae %aI", "HEAD~2")
    new = await squash(wt, "main", "Add a and b", manual="keep")
    assert git(wt, "rev-parse", "HEAD") == new == git(repo, "rev-parse", info.branch)
    assert _log(wt) == ["manual: my fix", "Add a and b"]
    assert git(wt, "rev-parse", "HEAD^{tree}") == tree
    assert git(wt, "log", "-1", "--format=%an %ae %aI", "HEAD~1") == manual_author
    assert git(wt, "rev-parse", "HEAD~2") == info.base_sha
    assert git(wt, "status", "--porcelain") == ""
    assert "Amp-Session: sess-1" in git(wt, "log", "-1", "--format=%B")


async def test_squash_fold_manual(repo: Path) -> None:
    info = await _session_with_history(repo)
    wt = Path(info.path)
    tree = git(wt, "rev-parse", "HEAD^{tree}")
    await squash(wt, "main", "Everything", manual="fold")
    assert _log(wt) == ["Everything"]
    assert git(wt, "rev-parse", "HEAD^{tree}") == tree
    assert git(wt, "rev-parse", "HEAD~1") == info.base_sha


async def test_squash_keep_when_manual_builds_on_amp(repo: Path) -> None:
    info = await create_worktree(repo, "sess-1", "work", "main")
    wt = Path(info.path)
    write(wt / "a.txt", "a1\n")
    await commit_iteration(wt, "one", session_id="sess-1", iteration=1)
    write(wt / "a.txt", "a1 fixed by hand\n")  # cannot be replayed before the amp commit
    commit_all(wt, "hand fix")
    write(wt / "b.txt", "b\n")
    await commit_iteration(wt, "two", session_id="sess-1", iteration=2)
    tree = git(wt, "rev-parse", "HEAD^{tree}")
    await squash(wt, "main", "Squashed", manual="keep")
    assert _log(wt) == ["Squashed", "hand fix"]
    assert git(wt, "rev-parse", "HEAD^{tree}") == tree


async def test_squash_uses_merge_base_not_base_tip(repo: Path) -> None:
    """Lesson 4: commits that landed on main after the session branched are not reverted."""
    info = await _session_with_history(repo)
    write(repo / "landed.txt", "on main\n")
    landed = commit_all(repo, "landed on main")
    await squash(Path(info.path), "main", "Squashed", manual="fold")
    assert git(Path(info.path), "rev-parse", "HEAD~1") == info.base_sha
    diff = git(repo, "diff", "--name-only", f"{landed}...{info.branch}")
    assert "landed.txt" not in diff
    result = await merge(repo, Path(info.path), info.branch, "main", mode="ff")
    assert result.ok
    assert (repo / "landed.txt").read_text() == "on main\n" and (repo / "b.txt").exists()


async def test_rebase_onto_moved_base(repo: Path) -> None:
    info = await _session_with_history(repo)
    write(repo / "other.txt", "main moved\n")
    moved = commit_all(repo, "main moves")
    result = await rebase(Path(info.path), "main")
    assert result.ok and not result.conflicts
    assert git(Path(info.path), "merge-base", "HEAD", "main") == moved
    assert _log(Path(info.path)) == ["amp: one", "manual: my fix", "amp: two", "amp: three"]
    assert result.sha == git(Path(info.path), "rev-parse", "HEAD")


async def _conflicting(repo: Path) -> WorktreeInfo:
    info = await create_worktree(repo, "sess-c", "conflict", "main")
    write(Path(info.path) / "app.py", "session version\n")
    await commit_iteration(Path(info.path), "edit app", session_id="sess-c", iteration=1)
    write(repo / "app.py", "main version\n")
    commit_all(repo, "main edits app")
    return info


async def test_rebase_conflict_is_aborted_and_changes_nothing(repo: Path) -> None:
    info = await _conflicting(repo)
    write(Path(info.path) / "scratch.txt", "untracked in worktree\n")
    before_wt, before_main = state(Path(info.path)), state(repo)
    result = await rebase(Path(info.path), "main")
    assert not result.ok and result.conflicts == ["app.py"] and not result.in_progress
    assert state(Path(info.path)) == before_wt
    assert state(repo) == before_main
    assert await current_operation(Path(info.path)) is None


async def test_rebase_conflict_kept_then_continued(repo: Path) -> None:
    info = await _conflicting(repo)
    result = await rebase(Path(info.path), "main", keep_conflict=True)
    assert result.in_progress and result.conflicts == ["app.py"]
    assert await current_operation(Path(info.path)) == "rebase"
    again = await continue_operation(Path(info.path))  # markers still there: reported, not committed
    assert not again.ok and again.conflicts == ["app.py"]
    write(Path(info.path) / "app.py", "resolved\n")
    done = await continue_operation(Path(info.path))
    assert done.ok and await current_operation(Path(info.path)) is None
    assert git(Path(info.path), "show", "HEAD:app.py") == "resolved"
    assert git(Path(info.path), "rev-parse", "HEAD~1") == git(repo, "rev-parse", "main")


async def test_rebase_conflict_kept_then_aborted(repo: Path) -> None:
    info = await _conflicting(repo)
    before = state(Path(info.path))
    await rebase(Path(info.path), "main", keep_conflict=True)
    await abort_operation(Path(info.path))
    assert state(Path(info.path)) == before


async def test_merge_fast_forwards(repo: Path) -> None:
    info = await _session_with_history(repo)
    tip = git(repo, "rev-parse", info.branch)
    result = await merge(repo, Path(info.path), info.branch, "main", mode="ff")
    assert result.ok and result.fast_forward and result.sha == tip
    assert git(repo, "rev-parse", "main") == tip
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "b.txt").read_text() == "b\n"


async def test_merge_with_dirty_main_is_refused(repo: Path) -> None:
    info = await _session_with_history(repo)
    write(repo / "README.md", "uncommitted edit\n")
    before = state(repo)
    with pytest.raises(AmpsmError) as exc:
        await merge(repo, Path(info.path), info.branch, "main")
    assert exc.value.code is ErrorCode.GIT and "README.md" in exc.value.message
    assert state(repo) == before


async def test_merge_no_ff_and_ff_only(repo: Path) -> None:
    info = await _session_with_history(repo)
    tip = git(repo, "rev-parse", info.branch)
    write(repo / "other.txt", "x\n")
    commit_all(repo, "main moves")
    with pytest.raises(AmpsmError) as exc:
        await merge(repo, Path(info.path), info.branch, "main", mode="ff-only")
    assert exc.value.code is ErrorCode.GIT
    result = await merge(repo, Path(info.path), info.branch, "main", mode="no-ff", message="Merge session")
    assert result.ok and not result.fast_forward
    assert git(repo, "rev-parse", "HEAD^2") == tip
    assert git(repo, "log", "-1", "--format=%s") == "Merge session"
    again = await merge(repo, Path(info.path), info.branch, "main")
    assert again.ok and again.already_merged


async def test_merge_conflict_in_main_is_aborted(repo: Path) -> None:
    info = await _conflicting(repo)
    before = state(repo)
    result = await merge(repo, Path(info.path), info.branch, "main")
    assert not result.ok and result.conflicts == ["app.py"]
    assert state(repo) == before
    assert await current_operation(repo) is None


async def test_merge_when_main_checkout_is_on_another_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "elsewhere")
    write(repo / "README.md", "dirty but not on main\n")
    info = await _session_with_history(repo)
    before = state(repo)
    tip = git(repo, "rev-parse", info.branch)
    ff = await merge(repo, Path(info.path), info.branch, "main")
    assert ff.ok and ff.fast_forward and git(repo, "rev-parse", "main") == tip
    after = state(repo)
    for key in ("head", "symbolic", "status", "index"):
        assert after[key] == before[key]
    # a merge commit is made in a temporary worktree, which is gone afterwards
    write(Path(info.path) / "c.txt", "c\n")
    await commit_iteration(Path(info.path), "four", session_id="sess-1", iteration=4)
    main_before = git(repo, "rev-parse", "main")
    git(
        repo,
        "branch",
        "-f",
        "main",
        git(repo, "commit-tree", "-p", main_before, "-m", "moved", f"{main_before}^{{tree}}"),
    )
    merged = await merge(repo, Path(info.path), info.branch, "main", mode="ff")
    assert merged.ok and not merged.fast_forward
    assert git(repo, "rev-parse", "main^2") == git(repo, "rev-parse", info.branch)
    assert len(git(repo, "worktree", "list").splitlines()) == 2
    assert state(repo)["status"] == before["status"]


async def test_merge_then_remove_worktree(repo: Path) -> None:
    info = await _session_with_history(repo)
    result = await merge(repo, Path(info.path), info.branch, "main", remove_after=True, session_id="sess-1")
    assert result.ok
    assert not Path(info.path).exists() and git(repo, "branch", "--list", info.branch) == ""
    assert git(repo, "for-each-ref", "refs/ampsm/") == ""  # merged: nothing needed keeping


async def test_merge_conflict_without_checkout_kept_in_temporary_worktree(repo: Path) -> None:
    info = await _conflicting(repo)
    git(repo, "checkout", "-q", "--detach")
    before = state(repo)
    aborted = await merge(repo, Path(info.path), info.branch, "main")
    assert not aborted.ok and aborted.conflicts == ["app.py"] and aborted.path is None
    assert state(repo) == before
    kept = await merge(repo, Path(info.path), info.branch, "main", keep_conflict=True)
    assert kept.in_progress and kept.path is not None and Path(kept.path).exists()
    write(Path(kept.path) / "app.py", "both\n")
    done = await continue_operation(kept.path)
    assert done.ok and done.path is None
    assert git(repo, "show", "main:app.py") == "both"
    assert git(repo, "rev-parse", "main^2") == git(repo, "rev-parse", info.branch)
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 2
    assert state(repo)["status"] == before["status"] and state(repo)["head"] == before["head"]


async def test_squash_that_cannot_keep_manual_commits_changes_nothing(repo: Path) -> None:
    info = await create_worktree(repo, "sess-1", "work", "main")
    wt = Path(info.path)
    write(wt / "a.txt", "1\n")
    await commit_iteration(wt, "one", session_id="sess-1", iteration=1)
    write(wt / "a.txt", "2\n")
    commit_all(wt, "hand edit")
    write(wt / "a.txt", "3\n")
    await commit_iteration(wt, "two", session_id="sess-1", iteration=2)
    before = state(wt)
    with pytest.raises(AmpsmError) as exc:
        await squash(wt, "main", "Squashed", manual="keep")
    assert exc.value.code is ErrorCode.GIT and "fold" in exc.value.message
    assert state(wt) == before
    await squash(wt, "main", "Squashed", manual="fold")
    assert git(wt, "log", "--format=%s", "main..HEAD") == "Squashed"


async def test_session_call_forms_with_leading_repo(repo: Path) -> None:
    """The session service passes (repo, worktree, ...); continue/abort find where the conflict waits."""
    info = await _conflicting(repo)
    new = await squash(repo, Path(info.path), "main", "Squashed", manual="fold")
    assert new == git(Path(info.path), "rev-parse", "HEAD")
    kept = await merge(repo, Path(info.path), info.branch, "main", keep_conflict=True)
    assert kept.in_progress and kept.path == str(repo)  # the user's checkout of main
    await abort_operation(repo, Path(info.path))
    assert await current_operation(repo) is None and git(repo, "status", "--porcelain") == ""
    result = await rebase(repo, Path(info.path), "main", keep_conflict=True)
    assert result.in_progress
    write(Path(info.path) / "app.py", "resolved\n")
    done = await continue_operation(repo, Path(info.path))
    assert done.ok and done.path == info.path
    await abort_operation(repo, Path(info.path))  # nothing in progress: no error
    with pytest.raises(AmpsmError):
        await continue_operation(repo, Path(info.path))
    with pytest.raises(TypeError):
        await rebase(Path(info.path))  # type: ignore[call-overload]
