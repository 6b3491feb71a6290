"""What the git layer reads from git's own files instead of starting git (issue 17): each answer is
checked against git's, and every layout the files cannot vouch for goes back to git."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ampsm_tui.engine.git import create_worktree, remove_worktree
from ampsm_tui.engine.git.archive import CHECKPOINT_PREFIX, clean_head
from ampsm_tui.engine.git.repo import (
    _probe_files,
    branches_by_files,
    checkout_of,
    on_branch_by_files,
    repo_paths,
    worktree_branches,
)
from ampsm_tui.engine.git.runner import run_sync
from tests.conftest import git


def _git_paths(p: Path) -> tuple[str, str]:
    common = Path(git(p, "rev-parse", "--path-format=absolute", "--git-common-dir")).resolve()
    return str(common.parent), str(common)


def test_the_files_give_gits_answer_for_a_checkout_and_a_linked_worktree(repo: Path) -> None:
    info = run_sync(create_worktree(repo, "sess-00000001", "probe", "main"))
    for place in (repo, Path(info.path)):
        found = _probe_files(str(place.resolve()))
        assert found is not None
        paths, marks = found
        assert (paths.root, paths.common_dir) == _git_paths(place)
        git_marks = git(place, "rev-parse", "--path-format=absolute", "--git-path", "MERGE_HEAD").strip()
        assert marks[0] == str(Path(git_marks).resolve())


@pytest.mark.parametrize(
    "setting",
    [("core.bare", "true"), ("core.worktree", "/elsewhere"), ("include.path", "other.cfg"), ("extensions.x", "1")],
)
def test_a_configuration_that_moves_the_checkout_goes_to_git(repo: Path, setting: tuple[str, str]) -> None:
    git(repo, "config", *setting)
    assert _probe_files(str(repo.resolve())) is None


def test_a_subdirectory_and_a_separate_git_dir_go_to_git(tmp_path: Path, repo: Path) -> None:
    sub = repo / "sub"
    sub.mkdir()
    assert _probe_files(str(sub.resolve())) is None
    other = tmp_path / "separate"
    git(tmp_path, "init", "-q", "-b", "main", "--separate-git-dir", str(tmp_path / "gitdir"), str(other))
    assert _probe_files(str(other.resolve())) is None
    paths = asyncio.run(repo_paths(other))  # git's answer, as before
    assert paths.root == str(other.resolve())


def test_the_checkout_of_a_branch_is_the_one_git_lists(repo: Path) -> None:
    info = run_sync(create_worktree(repo, "sess-00000002", "where", "main"))
    detached = run_sync(create_worktree(repo, "sess-00000003", "detached", "main"))
    git(Path(detached.path), "switch", "-q", "--detach")
    paths = run_sync(repo_paths(repo))
    listed = run_sync(worktree_branches(repo))
    for branch in ("main", info.branch, detached.branch, "no-such-branch"):
        want = next((p for p, b in listed.items() if b == branch), None)
        assert checkout_of(paths, branch) == want


@pytest.mark.parametrize(
    ("change", "clean"),
    [
        (lambda wt: None, True),
        (lambda wt: (wt / ".ampsm").mkdir() or (wt / ".ampsm" / "log.txt").write_text("ours\n"), True),
        (lambda wt: (wt / "new.txt").write_text("new\n"), False),
        (lambda wt: (wt / "README.md").write_text("changed\n"), False),
        (lambda wt: (wt / "staged.txt").write_text("s\n") and git(wt, "add", "staged.txt"), False),
        (lambda wt: (wt / ".gitignore").write_text("*.log\n") and git(wt, "add", ".gitignore"), False),
    ],
    ids=["clean", "ampsm-files", "untracked", "modified", "staged", "staged-ignore-file"],
)
def test_a_clean_worktree_is_told_by_one_status(repo: Path, change: object, clean: bool) -> None:
    info = run_sync(create_worktree(repo, "sess-00000004", "status", "main"))
    change(Path(info.path))  # type: ignore[operator]
    head = git(Path(info.path), "rev-parse", "HEAD")
    assert run_sync(clean_head(Path(info.path))) == (head if clean else None)
    # and the snapshot agrees: nothing to keep exactly when the status says clean
    removed = run_sync(remove_worktree(repo, Path(info.path), info.branch, session_id="sess-00000004"))
    assert (removed.archive.wip_sha is None) == clean


def test_an_ignored_file_is_not_work_to_keep(repo: Path) -> None:
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore logs")
    info = run_sync(create_worktree(repo, "sess-00000005", "ignored", "main"))
    (Path(info.path) / "build.log").write_text("noise\n")
    assert run_sync(clean_head(Path(info.path))) == git(Path(info.path), "rev-parse", "HEAD")


@pytest.mark.parametrize("packed", [False, True])
def test_a_checkpoint_goes_with_the_worktree_packed_or_not(repo: Path, packed: bool) -> None:
    info = run_sync(create_worktree(repo, "sess-00000006", "checkpoint", "main"))
    ref = CHECKPOINT_PREFIX + "sess-00000006"
    (Path(info.path) / "wip.txt").write_text("wip\n")
    git(Path(info.path), "add", "wip.txt")
    git(Path(info.path), "commit", "-q", "-m", "amp: wip")
    git(repo, "update-ref", ref, git(Path(info.path), "rev-parse", "HEAD"))
    if packed:
        git(repo, "pack-refs", "--all")
        assert not (repo / ".git" / ref).exists()
    run_sync(remove_worktree(repo, Path(info.path), info.branch, session_id="sess-00000006"))
    assert git(repo, "for-each-ref", ref) == ""


def test_being_on_the_branch_is_read_from_the_files_only_when_they_vouch_for_it(repo: Path) -> None:
    info = run_sync(create_worktree(repo, "sess-00000007", "onbranch", "main"))
    assert on_branch_by_files(Path(info.path), info.branch)
    assert not on_branch_by_files(Path(info.path), "main")  # another branch
    assert not on_branch_by_files(repo / "sub", info.branch)  # not a worktree's top
    git(repo, "pack-refs", "--all")
    assert on_branch_by_files(Path(info.path), info.branch)  # a packed ref is still the branch
    git(Path(info.path), "switch", "-q", "--detach")
    assert not on_branch_by_files(Path(info.path), info.branch)
    git(Path(info.path), "switch", "-q", info.branch)
    gitdir = Path(git(Path(info.path), "rev-parse", "--path-format=absolute", "--git-dir"))
    (gitdir / "MERGE_HEAD").write_text(git(Path(info.path), "rev-parse", "HEAD") + "\n")
    assert not on_branch_by_files(Path(info.path), info.branch)  # a merge going on: git is asked
    (gitdir / "MERGE_HEAD").unlink()
    git(repo, "update-ref", "-d", f"refs/heads/{info.branch}")
    assert not on_branch_by_files(Path(info.path), info.branch)  # the branch is gone


def test_the_branches_a_new_session_needs_are_those_git_lists(repo: Path) -> None:
    for branch in ("amp/fix-it/20260101-000000", "amp/fix-it/20260101-000000-2", "amp/fix-itx", "amp/other"):
        git(repo, "branch", branch)
    git(repo, "pack-refs", "--all")
    git(repo, "branch", "amp/fix-it/20260102-000000")  # a loose one beside the packed ones
    git(repo, "update-ref", "refs/heads/amp/fix-it/20260101-000000", git(repo, "rev-parse", "HEAD"))
    common = repo / ".git"
    listed = git(repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/main", "refs/heads/amp/fix-it")
    want = {ref.removeprefix("refs/heads/"): sha for sha, ref in (ln.split(" ") for ln in listed.splitlines())}
    assert branches_by_files(common, "main", "amp/fix-it") == want
    assert branches_by_files(common, "no-such") == {}
    (common / "refs" / "heads" / "amp" / "other").write_text("ref: refs/heads/main\n")  # symbolic: ask git
    assert branches_by_files(common, "amp/other") is None
