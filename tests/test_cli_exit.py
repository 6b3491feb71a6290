"""The program's exit after a lean path: output whole, status kept, and no interpreter teardown
(it was a tenth of such a command's run); any other command exits the ordinary way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import git, run_cli
from tests.git_helpers import merge_in_branch

#: the program as the console script runs it, with an exit handler that says whether it ran
PROGRAM = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('TEARDOWN\\n'))\n"
    "from ampsm_tui.cli import entry\n"
    "sys.argv = ['ampsm', *sys.argv[1:]]\n"
    "sys.exit(entry())\n"
)


def _program(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, *args], capture_output=True, text=True, timeout=120, env={**os.environ}
    )


def _session(repo: Path, name: str) -> tuple[str, Path]:
    out = run_cli("new", "--repo", str(repo), "--name", name, "--agent", "command", "--agent-cmd", "true", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    return str(doc["id"]), Path(doc["worktree_path"])


def test_a_lean_command_leaves_without_teardown_and_with_all_its_output(repo: Path, tmp_path: Path) -> None:
    for n in range(60):  # a list document of some size, one live session per repo (no overlaps to compute)
        other = tmp_path / f"r{n}"
        other.mkdir()
        git(other, "init", "-q", "-b", "main")
        git(other, "commit", "-q", "--allow-empty", "-m", "init")
        _session(other, f"exit {n}")
    listed = _program("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 60
    assert "TEARDOWN" not in listed.stderr
    sid, wt = _session(repo, "merged")
    (wt / "x.txt").write_text("x\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", "amp: x")
    merged = _program("merge", sid)
    assert merged.returncode == 0 and merged.stdout.startswith("merge ok: "), merged.stderr
    assert "TEARDOWN" not in merged.stderr


def test_a_lean_failure_keeps_its_status_and_line(repo: Path) -> None:
    sid, wt = _session(repo, "bumpy")
    merge_in_branch(wt)
    out = _program("squash", sid, "-m", "feat: bumpy")
    assert out.returncode == 11
    assert out.stderr.splitlines()[0] == "E001: the session branch holds merge commits; rebase it before squashing"


def test_other_commands_exit_the_ordinary_way(repo: Path) -> None:
    sid, _wt = _session(repo, "plain")
    out = _program("status", sid, "--json")
    assert out.returncode == 0, out.stderr
    assert sid in out.stdout
    assert "TEARDOWN" in out.stderr


def test_completion_leaves_without_teardown(repo: Path) -> None:
    sid, _wt = _session(repo, "completed")
    out = _program("__complete", "sessions", "sess-")
    assert out.returncode == 0 and out.stdout.split() == [sid]
    assert "TEARDOWN" not in out.stderr
