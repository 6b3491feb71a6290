"""Helpers shared by the git engine tests: snapshots of a repository's observable state."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(cwd: Path, *args: str, check: bool = True) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=check, capture_output=True, text=True)
    return out.stdout.strip()


def state(path: Path) -> dict[str, str]:
    """Everything a user would notice changing: refs, HEAD, status, index contents, worktrees."""
    return {
        "refs": git(path, "for-each-ref", "--format=%(refname) %(objectname)"),
        "head": git(path, "rev-parse", "HEAD"),
        "symbolic": git(path, "symbolic-ref", "-q", "HEAD", check=False),
        "status": git(path, "status", "--porcelain=v1", "--untracked-files=all"),
        "index": git(path, "ls-files", "-s"),
        "worktrees": git(path, "worktree", "list", "--porcelain"),
    }


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def commit_all(path: Path, message: str) -> str:
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return git(path, "rev-parse", "HEAD")


def merge_in_branch(wt: Path) -> None:
    """Leave a merge commit on the worktree's branch: one `amp:` commit, one on a side branch off
    its parent, merged (a branch squash must refuse)."""
    (wt / "a.txt").write_text("a\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", "amp: a")
    git(wt, "switch", "-q", "-c", "side", "HEAD~1")
    (wt / "b.txt").write_text("b\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", "amp: b")
    git(wt, "switch", "-q", "-")
    git(wt, "merge", "-q", "--no-edit", "side")
