"""A session branch's config section written in one step (engine/git/configfile.py): the same
bytes `git config` writes on a twin repository, and git's own lock respected; anything unusual is
left to git. Real git, real repositories."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ampsm_tui.engine.git.configfile import add_branch_section, remove_branch_section
from tests.conftest import git

BRANCH = "amp/fix-the-bug/20261202-000000"
KEYS = {"ampsmSession": "sess-0a1b2c3d", "ampsmBase": "main"}


def _twin(repo: Path) -> Path:
    twin = repo.parent / "twin"
    shutil.copytree(repo, twin, symlinks=True)
    return twin


def _by_git(repo: Path, branch: str, keys: dict[str, str]) -> None:
    for key, value in keys.items():
        git(repo, "config", f"branch.{branch}.{key}", value)


@pytest.mark.parametrize("setup", ["fresh", "other-sections", "no-final-newline", "mode-0640"])
def test_the_section_is_what_git_config_writes(repo: Path, setup: str) -> None:
    config = repo / ".git" / "config"
    if setup == "other-sections":
        _by_git(repo, "amp/older/20261201-000000", KEYS)
        git(repo, "config", "user.name", "Some One")
    elif setup == "no-final-newline":
        config.write_bytes(config.read_bytes().rstrip(b"\n"))
    elif setup == "mode-0640":
        config.chmod(0o640)
    twin = _twin(repo)
    assert add_branch_section(config, BRANCH, KEYS) is True
    _by_git(twin, BRANCH, KEYS)
    assert config.read_bytes() == (twin / ".git" / "config").read_bytes()
    assert config.stat().st_mode & 0o7777 == (twin / ".git" / "config").stat().st_mode & 0o7777
    assert git(repo, "config", "--get", f"branch.{BRANCH}.ampsmSession") == KEYS["ampsmSession"]
    assert git(repo, "config", "--get", f"branch.{BRANCH}.ampsmBase") == "main"
    assert not (repo / ".git" / "config.lock").exists()


def test_a_held_lock_is_left_to_git_and_not_touched(repo: Path) -> None:
    config = repo / ".git" / "config"
    before = config.read_bytes()
    lock = repo / ".git" / "config.lock"
    lock.write_text("someone else's\n")
    assert add_branch_section(config, BRANCH, KEYS) is False
    assert config.read_bytes() == before and lock.read_text() == "someone else's\n"


@pytest.mark.parametrize(
    ("branch", "keys"),
    [
        (BRANCH, {"ampsmSession": "sess-0a1b2c3d", "ampsmBase": "odd#base"}),  # a comment mark: quoted by git
        (BRANCH, {"ampsmSession": "sess-0a1b2c3d", "ampsmBase": 'with"quote'}),
        ('amp/"quoted"/1', KEYS),
        (BRANCH, {"bad key": "x"}),
        (BRANCH, {}),
    ],
)
def test_values_that_need_quoting_are_left_to_git(repo: Path, branch: str, keys: dict[str, str]) -> None:
    config = repo / ".git" / "config"
    before = config.read_bytes()
    assert add_branch_section(config, branch, keys) is False
    assert config.read_bytes() == before and not (repo / ".git" / "config.lock").exists()


def test_a_branch_the_config_already_names_is_left_to_git(repo: Path) -> None:
    """A leftover section of the same name: git edits it in place; appending a second would give
    the keys two values."""
    git(repo, "config", f"branch.{BRANCH}.description", "left over")
    config = repo / ".git" / "config"
    before = config.read_bytes()
    assert add_branch_section(config, BRANCH, KEYS) is False
    assert config.read_bytes() == before


def test_a_symlinked_config_is_left_to_git(repo: Path) -> None:
    config = repo / ".git" / "config"
    real = repo.parent / "real-config"
    os.replace(config, real)
    config.symlink_to(real)
    before = real.read_bytes()
    assert add_branch_section(config, BRANCH, KEYS) is False
    assert config.is_symlink() and real.read_bytes() == before and not (repo / ".git" / "config.lock").exists()


def test_a_worktree_on_a_base_that_needs_quoting_still_gets_its_keys(repo: Path) -> None:
    """`create_worktree` falls back to `git config` for what the file writer declines."""
    from ampsm_tui.engine.git import create_worktree
    from ampsm_tui.engine.git.runner import run_sync

    git(repo, "branch", "feat#1")
    info = run_sync(create_worktree(repo, "sess-0000f00d", "hash base", "feat#1"))
    assert git(repo, "config", "--get", f"branch.{info.branch}.ampsmBase") == "feat#1"
    assert git(repo, "config", "--get", f"branch.{info.branch}.ampsmSession") == "sess-0000f00d"


@pytest.mark.parametrize("place", ["only", "first", "middle", "last"])
def test_the_section_is_removed_as_git_removes_it(repo: Path, place: str) -> None:
    """`remove_branch_section` leaves the bytes `git config --remove-section` (what `git branch -D`
    runs) leaves on a twin repository."""
    config = repo / ".git" / "config"
    before = {"first": [], "only": [], "middle": ["amp/older/20261201-000000"], "last": ["amp/a/1", "amp/b/2"]}
    after = {"first": ["amp/later/20261203-000000"], "middle": ["amp/later/20261203-000000"]}
    for branch in before[place]:
        _by_git(repo, branch, KEYS)
    _by_git(repo, BRANCH, KEYS)
    for branch in after.get(place, []):
        _by_git(repo, branch, KEYS)
    git(repo, "config", "user.name", "Some One")
    twin = _twin(repo)
    assert remove_branch_section(config, BRANCH) is True
    git(twin, "config", "--remove-section", f"branch.{BRANCH}")
    assert config.read_bytes() == (twin / ".git" / "config").read_bytes()
    assert BRANCH not in config.read_text() and not (repo / ".git" / "config.lock").exists()


@pytest.mark.parametrize(
    "odd",
    [
        "absent",  # nothing to remove: git says so
        "mentioned-again",  # another section names a branch with this one's name in it
        "comment",  # a comment inside the section
        "quoted-value",  # a value git quoted
    ],
)
def test_a_section_that_is_not_plain_is_left_to_git(repo: Path, odd: str) -> None:
    config = repo / ".git" / "config"
    if odd != "absent":
        _by_git(repo, BRANCH, KEYS)
    if odd == "mentioned-again":
        _by_git(repo, BRANCH + "-2", KEYS)
    elif odd == "comment":
        config.write_text(config.read_text() + "\t# a note of the user's\n")
    elif odd == "quoted-value":
        git(repo, "config", f"branch.{BRANCH}.description", "two  words; and more")
    before = config.read_bytes()
    assert remove_branch_section(config, BRANCH) is False
    assert config.read_bytes() == before and not (repo / ".git" / "config.lock").exists()


def test_a_branch_checked_out_elsewhere_is_left_to_git_branch_d(repo: Path) -> None:
    """The session branch goes beside its worktree only when no other checkout has it: checked out
    in the main checkout too, `git branch -D` refuses (as before) and the user's checkout keeps it."""
    from ampsm_tui.engine.git import create_worktree, remove_worktree
    from ampsm_tui.engine.git.runner import run_sync

    info = run_sync(create_worktree(repo, "sess-0000beef", "shared", "main"))
    git(repo, "symbolic-ref", "HEAD", f"refs/heads/{info.branch}")  # the main checkout on it as well
    result = run_sync(remove_worktree(repo, info.path, info.branch, session_id="sess-0000beef", force=True))
    assert result.removed_worktree and not result.deleted_branch
    assert git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{info.branch}") == info.base_sha
    assert git(repo, "config", "--get", f"branch.{info.branch}.ampsmSession") == "sess-0000beef"


def test_a_branch_goes_with_its_worktree_ref_reflog_and_section(repo: Path) -> None:
    from ampsm_tui.engine.git import create_worktree, remove_worktree
    from ampsm_tui.engine.git.runner import run_sync

    info = run_sync(create_worktree(repo, "sess-0000cafe", "gone", "main"))
    git(repo, "pack-refs", "--all")  # packed or loose: git's own deletion either way
    result = run_sync(remove_worktree(repo, info.path, info.branch, session_id="sess-0000cafe"))
    assert result.removed_worktree and result.deleted_branch
    assert git(repo, "branch", "--list", "amp/*") == ""
    assert not (repo / ".git" / "logs" / "refs" / "heads" / info.branch).exists()
    assert "ampsm" not in (repo / ".git" / "config").read_text()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
