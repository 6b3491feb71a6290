"""Iteration commits and diffs on real worktrees."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampsm_tui.engine.git import create_worktree
from ampsm_tui.engine.git.commits import commit_iteration, session_commits, subject_line
from ampsm_tui.engine.git.diffs import diff_files, last_iteration_diff, session_diff
from tests.git_helpers import commit_all, git, write


async def test_iteration_commit_has_exactly_the_changes(repo: Path) -> None:
    write(repo / "old_name.py", "x = 1\n" * 20)
    write(repo / "doomed.txt", "bye\n")
    commit_all(repo, "more files")
    info = await create_worktree(repo, "sess-1", "work", "main")
    wt = Path(info.path)
    write(wt / "new.txt", "one\ntwo\n")  # added
    write(wt / "app.py", "def add(a, b):\n    return a + b + 0\n")  # modified: 1 removed, 1 added
    (wt / "doomed.txt").unlink()  # deleted
    (wt / "old_name.py").rename(wt / "new_name.py")  # renamed
    write(wt / "build.log", "ignored\n")
    write(wt / ".gitignore", "*.log\n")
    write(wt / ".ampsm" / "context.md", "bookkeeping\n")  # ampsm's own: never committed
    before = git(wt, "rev-parse", "HEAD")
    result = await commit_iteration(wt, "Add things\nmore detail", session_id="sess-1", iteration=3)
    assert result is not None
    assert git(wt, "rev-parse", "HEAD") == result.sha
    assert git(wt, "rev-parse", "HEAD~1") == before
    by_path = {f.path: f for f in result.files}
    assert {p: f.status for p, f in by_path.items()} == {
        ".gitignore": "A",
        "app.py": "M",
        "doomed.txt": "D",
        "new.txt": "A",
        "new_name.py": "R",
    }
    assert by_path["new_name.py"].old_path == "old_name.py"
    assert (by_path["app.py"].added, by_path["app.py"].removed) == (1, 1)
    assert (by_path["new.txt"].added, by_path["doomed.txt"].removed) == (2, 1)
    assert result.files_changed == 5
    assert result.lines_added == 1 + 2 + 1 + 0  # app.py, new.txt, .gitignore, rename
    assert result.lines_removed == 1 + 1
    message = git(wt, "log", "-1", "--format=%B")
    assert message.splitlines()[0] == "amp: Add things"
    assert "Amp-Session: sess-1" in message and "Amp-Iteration: 3" in message
    tracked = git(wt, "ls-files")
    assert "build.log" not in tracked and ".ampsm/context.md" not in tracked
    assert git(wt, "status", "--porcelain") == "?? .ampsm/"
    # no change: no commit
    assert await commit_iteration(wt, "nothing", session_id="sess-1", iteration=4) is None
    assert git(wt, "rev-parse", "HEAD") == result.sha


async def test_staged_bookkeeping_is_never_committed(repo: Path) -> None:
    info = await create_worktree(repo, "sess-1", "work", "main")
    write(Path(info.path) / ".ampsm" / "log.txt", "x\n")
    git(Path(info.path), "add", "-f", ".ampsm/log.txt")
    assert await commit_iteration(Path(info.path), "x", session_id="sess-1", iteration=1) is None
    write(Path(info.path) / "real.txt", "y\n")
    result = await commit_iteration(Path(info.path), "x", session_id="sess-1", iteration=1)
    assert result is not None and [f.path for f in result.files] == ["real.txt"]


async def test_two_sessions_commit_independently(repo: Path) -> None:
    a = await create_worktree(repo, "sess-a", "alpha", "main")
    b = await create_worktree(repo, "sess-b", "beta", "main")
    write(Path(a.path) / "a.txt", "a\n")
    write(Path(b.path) / "b.txt", "b\n")
    ra = await commit_iteration(Path(a.path), "alpha work", session_id="sess-a", iteration=1)
    rb = await commit_iteration(Path(b.path), "beta work", session_id="sess-b", iteration=1)
    assert ra and rb and ra.sha != rb.sha
    assert git(repo, "rev-parse", a.branch) == ra.sha and git(repo, "rev-parse", b.branch) == rb.sha
    assert git(repo, "ls-tree", "--name-only", a.branch).splitlines().count("b.txt") == 0
    assert "b.txt" in git(repo, "ls-tree", "--name-only", b.branch)
    assert git(repo, "rev-parse", "main") == a.base_sha  # main did not move
    assert git(repo, "status", "--porcelain") == ""


async def test_manual_commits_are_recognised(repo: Path) -> None:
    info = await create_worktree(repo, "sess-1", "work", "main")
    write(Path(info.path) / "a.txt", "a\n")
    await commit_iteration(Path(info.path), "first", session_id="sess-1", iteration=1)
    write(Path(info.path) / "b.txt", "b\n")
    commit_all(Path(info.path), "my own fix")
    commits = await session_commits(Path(info.path), "main")
    assert [(c.subject, c.is_amp) for c in commits] == [("amp: first", True), ("my own fix", False)]


async def test_diffs(repo: Path) -> None:
    info = await create_worktree(repo, "sess-1", "work", "main")
    wt = Path(info.path)
    write(wt / "a.txt", "a\n")
    await commit_iteration(wt, "first", session_id="sess-1", iteration=1)
    write(wt / "b.txt", "b\nc\n")
    await commit_iteration(wt, "second", session_id="sess-1", iteration=2)
    # main moves on: the session diff is still against the merge-base (only the session's changes)
    write(repo / "main_only.txt", "main\n")
    commit_all(repo, "main moves")
    write(wt / "app.py", "changed\n")
    git(wt, "add", "app.py")
    write(wt / "README.md", "unstaged\n")
    full = await session_diff(wt, "main")
    assert "a.txt" in full and "b.txt" in full and "main_only" not in full and "app.py" not in full
    assert [(f.path, f.added) for f in await diff_files(wt, "main")] == [("a.txt", 1), ("b.txt", 2)]
    stat = await session_diff(wt, "main", stat=True)
    assert "2 files changed" in stat
    assert [f.path for f in await diff_files(wt, staged=True)] == ["app.py"]
    assert [f.path for f in await diff_files(wt, unstaged=True)] == ["README.md"]
    last = await last_iteration_diff(wt)
    assert "b.txt" in last and "a.txt" not in last
    only_b = await session_diff(wt, "main", paths=["b.txt"])
    assert "b.txt" in only_b and "a.txt" not in only_b


def test_subject_line_is_bounded_and_clean() -> None:
    assert subject_line("\n\n  hello \x1b[31m world  \nsecond") == "hello [31m world"
    assert len(subject_line("x" * 500)) == 72


async def test_iteration_is_committed_without_any_git_identity(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No user.name/email anywhere: the commit is made under ampsm's fallback identity (git is
    asked about the identity only when a commit fails), and an existing identity is used as is."""
    info = await create_worktree(repo, "sess-id", "ident", "main")
    write(Path(info.path) / "a.txt", "a\n")
    result = await commit_iteration(Path(info.path), "with identity", session_id="sess-id", iteration=1)
    assert result is not None and git(Path(info.path), "log", "-1", "--format=%ae") == "author@example.com"
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "nohome"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    (home / "gitconfig").write_text("[user]\n\tuseConfigOnly = true\n")  # no guessing from the host name
    other = await create_worktree(repo, "sess-id2", "noident", "main")
    for n in (1, 2):  # the second commit knows already: one attempt
        write(Path(other.path) / f"b{n}.txt", "b\n")
        result = await commit_iteration(Path(other.path), f"no identity {n}", session_id="sess-id2", iteration=n)
        assert result is not None and git(Path(other.path), "rev-parse", "HEAD") == result.sha
        assert git(Path(other.path), "log", "-1", "--format=%an <%ae>") == "ampsm <ampsm@localhost>"
