"""A session branch's config section written in one step (engine/git/configfile.py): the same
bytes `git config` writes on a twin repository, and git's own lock respected; anything unusual is
left to git. Real git, real repositories."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ampsm_tui.engine.git.configfile import add_branch_section
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
