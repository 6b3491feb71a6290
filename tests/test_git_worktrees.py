"""Session worktrees on real repositories: creation, refusals, hostile names, ten processes at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ampsm_tui.engine.errors import AmpsmError, ErrorCode
from ampsm_tui.engine.git import create_worktree, remove_worktree, slugify
from tests.git_helpers import commit_all, git, state, write

HOSTILE = [
    "../../etc",
    "a b;rm -rf x",
    "-d",
    "feat/x",
    "x" * 300,
    "Café crème brûlée",
    "日本語のセッション",
    "a..b.lock",
    "\x01\x1b[31mred\n",
]


async def test_create_makes_worktree_branch_and_hides_folder(repo: Path) -> None:
    before = state(repo)
    info = await create_worktree(repo, "sess-1", "Fix the login bug", "main")
    assert Path(info.path) == repo / ".worktrees" / "sess-1"
    assert (Path(info.path) / "README.md").read_text() == "# demo\n"
    assert info.branch.startswith("amp/fix-the-login-bug/")
    assert git(Path(info.path), "symbolic-ref", "--short", "HEAD") == info.branch
    assert info.base_sha == git(repo, "rev-parse", "main")
    # main checkout untouched, .worktrees invisible to the user's status, .gitignore not edited
    after = state(repo)
    assert after["status"] == before["status"] == ""
    assert after["head"] == before["head"]
    assert after["index"] == before["index"]
    assert not (repo / ".gitignore").exists()
    assert "/.worktrees/" in (repo / ".git" / "info" / "exclude").read_text().splitlines()


async def test_main_checkout_is_never_touched(repo: Path) -> None:
    """Lesson 5: main has another branch checked out and local changes; creating a session from
    `main` neither switches nor touches it."""
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo / "f.txt", "feature\n")
    commit_all(repo, "feature work")
    write(repo / "app.py", "dirty\n")
    write(repo / "untracked.txt", "mine\n")
    before = state(repo)
    info = await create_worktree(repo, "sess-2", "other", "main")
    after = state(repo)
    for key in ("head", "symbolic", "status", "index"):
        assert after[key] == before[key], key
    assert after["refs"].splitlines() == sorted(
        [*before["refs"].splitlines(), f"refs/heads/{info.branch} {info.base_sha}"]
    )
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "feature"
    assert (repo / "app.py").read_text() == "dirty\n"
    assert not (Path(info.path) / "f.txt").exists()  # made from main, not from the checked-out branch


async def test_same_name_same_second_gets_unique_branches(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMPSM_FIXED_NOW", "2025-01-02T03:04:05+00:00")
    a = await create_worktree(repo, "sess-a", "same", "main")
    b = await create_worktree(repo, "sess-b", "same", "main")
    c = await create_worktree(repo, "sess-c", "same", "main")
    assert a.branch == "amp/same/20250102-030405"
    assert {a.branch, b.branch, c.branch} == {a.branch, a.branch + "-2", a.branch + "-3"}


@pytest.mark.parametrize("name", HOSTILE)
async def test_hostile_names_give_safe_valid_branches(repo: Path, name: str) -> None:
    info = await create_worktree(repo, "sess-h", name, "main")
    assert subprocess.run(["git", "check-ref-format", "--branch", info.branch], cwd=repo).returncode == 0
    amp, slug, stamp = info.branch.split("/")
    assert amp == "amp" and stamp
    assert 0 < len(slug) <= 40
    assert all(c.isascii() and (c.isalnum() or c == "-") for c in slug)
    assert not slug.startswith("-") and ".." not in info.branch
    assert Path(info.path).parent == repo / ".worktrees"
    assert not (repo.parent / "etc").exists()
    assert git(repo, "branch", "--list", info.branch) != ""


def test_slugs_of_distinct_non_ascii_names_differ() -> None:
    assert slugify("日本語") != slugify("中文")
    assert slugify("Café") == "cafe"
    assert slugify("feat/x") == "feat-x"


async def test_refusals(repo: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(AmpsmError) as exc:
        await create_worktree(plain, "sess-1", "x", "main")
    assert exc.value.code is ErrorCode.GIT
    with pytest.raises(AmpsmError) as exc:
        await create_worktree(repo, "sess-1", "x", "no-such-branch")
    assert exc.value.code is ErrorCode.GIT and "no-such-branch" in exc.value.message
    with pytest.raises(AmpsmError) as exc:
        await create_worktree(repo, "../evil", "x", "main")
    assert exc.value.code is ErrorCode.WORKTREE
    # a merge in progress in the main checkout
    git(repo, "checkout", "-q", "-b", "side")
    write(repo / "app.py", "side\n")
    commit_all(repo, "side")
    git(repo, "checkout", "-q", "main")
    write(repo / "app.py", "main\n")
    commit_all(repo, "main")
    git(repo, "merge", "side", check=False)
    with pytest.raises(AmpsmError) as exc:
        await create_worktree(repo, "sess-1", "x", "main")
    assert exc.value.code is ErrorCode.GIT and "merge" in exc.value.message


async def test_failed_creation_leaves_nothing_behind(repo: Path) -> None:
    write(repo / ".worktrees", "a file where the folder should be\n")  # makes creation fail
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "block")
    before = state(repo)
    with pytest.raises(AmpsmError) as exc:
        await create_worktree(repo, "sess-1", "x", "main")
    assert exc.value.code is ErrorCode.WORKTREE
    assert state(repo) == before
    assert git(repo, "branch", "--list", "amp/*") == ""


async def test_failure_inside_git_worktree_add_is_undone(repo: Path) -> None:
    """The checkout itself fails (a post-checkout hook exits 1 after the branch was made)."""
    hook = repo / ".git" / "hooks" / "post-checkout"
    write(hook, "#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(AmpsmError) as exc:
        await create_worktree(repo, "sess-1", "x", "main")
    assert exc.value.code is ErrorCode.WORKTREE
    assert not (repo / ".worktrees" / "sess-1").exists()
    assert git(repo, "branch", "--list", "amp/*") == ""
    assert len(git(repo, "worktree", "list").splitlines()) == 1


async def test_remove_keeps_unmerged_and_uncommitted_work(repo: Path) -> None:
    info = await create_worktree(repo, "sess-k", "keep me", "main")
    write(Path(info.path) / "done.txt", "committed\n")
    tip = commit_all(Path(info.path), "manual work")
    write(Path(info.path) / "loose.txt", "not committed\n")
    write(Path(info.path) / "app.py", "changed\n")
    result = await remove_worktree(repo, Path(info.path), info.branch, session_id="sess-k")
    assert result.removed_worktree and result.deleted_branch
    assert not Path(info.path).exists()
    assert git(repo, "branch", "--list", info.branch) == ""
    ref = result.archive.ref
    assert ref is not None and ref.startswith("refs/ampsm/archive/sess-k/")  # <session>/<timestamp>
    kept = git(repo, "rev-parse", ref)
    assert kept == result.archive.wip_sha
    assert git(repo, "rev-parse", f"{ref}^") == tip
    assert git(repo, "show", f"{ref}:loose.txt") == "not committed"
    assert git(repo, "show", f"{ref}:app.py") == "changed"
    assert git(repo, "status", "--porcelain") == ""


async def test_remove_of_merged_empty_session_keeps_nothing(repo: Path) -> None:
    info = await create_worktree(repo, "sess-e", "empty", "main")
    result = await remove_worktree(repo, Path(info.path), info.branch)
    assert result.archive.ref is None
    assert git(repo, "for-each-ref", "refs/ampsm/") == ""


CREATE_SNIPPET = """
import asyncio, os, sys, time
from pathlib import Path
from ampsm_tui.engine.git import create_worktree
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
info = asyncio.run(create_worktree(Path(sys.argv[1]), sys.argv[3], "same name", "main"))
print(info.branch)
"""


def test_ten_processes_at_once(repo: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE_SNIPPET, str(repo), str(go), f"sess-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(10)
    ]
    go.write_text("go")
    results = [p.communicate(timeout=110) for p in procs]
    assert [p.returncode for p in procs] == [0] * 10, [r[1] for r in results]
    branches = [r[0].strip() for r in results]
    assert len(set(branches)) == 10
    listed = git(repo, "worktree", "list", "--porcelain")
    assert listed.count("worktree ") == 11
    assert "prunable" not in listed and "locked" not in listed
    for i in range(10):
        assert git(repo / ".worktrees" / f"sess-{i}", "rev-parse", "--abbrev-ref", "HEAD") in branches
    fsck = subprocess.run(["git", "fsck", "--full", "--strict"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert "error" not in fsck.stderr.lower()
    assert git(repo, "worktree", "prune", "--dry-run", "-v") == ""
    assert git(repo, "status", "--porcelain") == ""


async def test_repo_root_and_default_base(repo: Path, tmp_path: Path) -> None:
    from ampsm_tui.engine.git import default_base, repo_root

    info = await create_worktree(repo, "sess-1", "x", "main")
    assert await repo_root(Path(info.path) / "") == str(repo.resolve())
    assert await default_base(repo, "main") == "main"
    git(repo, "branch", "-m", "main", "trunk")
    assert await default_base(repo, "main") == "trunk"  # the checked-out branch when the preferred is absent
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    with pytest.raises(AmpsmError) as exc:
        await default_base(empty, "main")
    assert exc.value.code is ErrorCode.GIT


async def test_new_worktree_paths_are_known_without_asking_git_and_match_git(repo: Path) -> None:
    """create_worktree caches the worktree's repository and operation marks from its `.git` file;
    they are exactly what `git rev-parse` says, and a merge started in it is still seen."""
    from ampsm_tui.engine.git import repo as repo_mod

    info = await create_worktree(repo, "sess-cache", "cache", "main")
    key = str(Path(info.path).resolve())
    seeded = repo_mod._PATHS_CACHE[key]
    del repo_mod._PATHS_CACHE[key]
    assert await repo_mod._probe(key) == seeded
    assert await repo_mod.current_operation(Path(info.path)) is None
    write(Path(info.path) / "README.md", "theirs\n")
    head = commit_all(Path(info.path), "change")
    Path(seeded[1][0]).write_text(head + "\n")  # MERGE_HEAD in the worktree's own git dir
    assert await repo_mod.current_operation(Path(info.path)) == "merge"


def test_remember_worktree_refuses_a_folder_that_is_not_a_linked_worktree(repo: Path, tmp_path: Path) -> None:
    from ampsm_tui.engine.git.repo import RepoPaths, remember_worktree

    paths = RepoPaths(root=str(repo.resolve()), common_dir=str((repo / ".git").resolve()))
    assert not remember_worktree(repo, paths)  # the main checkout: `.git` is a directory
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / ".git").write_text(f"gitdir: {tmp_path / 'x' / 'worktrees' / 'y'}\n")
    assert not remember_worktree(other, paths)
