"""How many git processes `ampsm new`, `squash` and `merge` start: each is a few milliseconds of a
command that should cost little more than the git work itself (issue 17). A `git` first on PATH
logs every call, then runs the real one."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import git, run_cli
from tests.git_helpers import merge_in_branch

#: what a git call is named by in the log: its subcommand, past the `-c` options ampsm gives
_OPTIONS_WITH_VALUE = {"-c", "-C"}


def _subcommands(log: Path) -> list[str]:
    out = []
    for line in log.read_text().splitlines():
        words = line.split("\x1f")
        i = 0
        while i < len(words) and words[i].startswith("-"):
            i += 2 if words[i] in _OPTIONS_WITH_VALUE else 1
        out.append(words[i] if i < len(words) else "")
    return out


@pytest.fixture
def counted(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose `git` logs its arguments to the returned file."""
    real = shutil.which("git")
    assert real is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "git-calls.log"
    shim = bin_dir / "git"
    # one line per call, its arguments split by US (a message with a newline stays on its line),
    # appended in one write: calls side by side must not interleave their lines
    shim.write_text(
        "#!/bin/sh\n"
        "line=$(IFS=$(printf '\\037'); printf '%s' \"$*\" | tr '\\n' ' ')\n"
        f"printf '%s\\n' \"$line\" >> {log}\n"
        f'exec {real} "$@"\n'
    )
    shim.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log


def _calls(log: Path, action: object) -> list[str]:
    log.write_text("")
    action() if callable(action) else None
    return _subcommands(log)


def test_new_squash_and_merge_start_few_git_processes(repo: Path, counted: tuple[dict[str, str], Path]) -> None:
    env, log = counted
    out: dict[str, str] = {}

    def new() -> None:
        res = run_cli("new", "--repo", str(repo), "--name", "few", "--agent", "command", "--agent-cmd", "true",
                      "--json", env=env)  # fmt: skip
        assert res.returncode == 0, res.stderr
        out.update(json.loads(res.stdout))

    # the refs it needs are read from the ref files, the two keys that mark the branch ours written
    # into the config file: the worktree is the one git process
    assert _calls(log, new) == ["worktree"]
    wt = Path(out["worktree_path"])
    for n in range(3):
        (wt / f"f{n}.txt").write_text(f"{n}\n")
        git(wt, "add", "-A")
        git(wt, "commit", "-q", "-m", f"amp: step {n}")

    def squash() -> None:
        res = run_cli("squash", out["id"], "-m", "feat: few", env=env)
        assert res.returncode == 0, res.stderr

    # a straight line of commits: one log for HEAD, its tree, the merge base and the messages
    assert _calls(log, squash) == ["log", "commit-tree", "update-ref"]
    assert git(wt, "log", "-1", "--format=%s") == "feat: few"

    trace = log.with_name("git-trace.log")

    def merge() -> None:
        res = run_cli("merge", out["id"], env={**env, "GIT_TRACE": str(trace)})
        assert res.returncode == 0, res.stderr

    # that the worktree is on its branch, and both tips, are read from git's files
    calls = _calls(log, merge)
    assert sorted(calls) == sorted(
        [
            "status",  # the base's checkout is clean (beside the merge-base)
            "merge-base",  # already merged, or a fast-forward
            "merge",
            "update-ref",  # refs/ampsm/merged/<id>: what the merge landed (beside the removal)
            "status",  # nothing uncommitted in the worktree: no snapshot to make
            "worktree",
            "update-ref",  # the branch deleted beside the worktree's removal (its config section in Python)
        ]
    )
    # side by side in pairs, the rest in order
    assert calls.index("merge-base") < calls.index("merge") < calls.index("update-ref") < calls.index("worktree")
    assert calls.index("merge") < len(calls) - 1 - calls[::-1].index("status") < calls.index("worktree")
    assert len(calls) - 1 - calls[::-1].index("status") < len(calls) - 1 - calls[::-1].index("update-ref")
    assert f"branch.{out['branch']}" not in (repo / ".git" / "config").read_text()
    # git starts no `git maintenance run --auto` of its own after the merge (gc.auto=0: it did nothing)
    assert "built-in: git merge" in trace.read_text() and "maintenance" not in trace.read_text()
    assert not wt.exists()
    assert git(repo, "log", "-1", "--format=%s", "main") == "feat: few"
    assert git(repo, "branch", "--list", "amp/*") == ""


def test_a_squash_that_is_not_a_straight_line_asks_git_step_by_step(
    repo: Path, counted: tuple[dict[str, str], Path]
) -> None:
    """A branch with a merge in it: the one-log plan declines, the old steps name the problem."""
    env, log = counted
    res = run_cli("new", "--repo", str(repo), "--name", "bumpy", "--agent", "command", "--agent-cmd", "true", "--json")
    doc = json.loads(res.stdout)
    wt = Path(doc["worktree_path"])
    merge_in_branch(wt)
    log.write_text("")
    res = run_cli("squash", doc["id"], "-m", "feat: bumpy", env=env)
    assert res.returncode == 11 and "E001: the session branch holds merge commits" in res.stderr
    assert _subcommands(log)[:4] == ["log", "rev-parse", "merge-base", "log"]
