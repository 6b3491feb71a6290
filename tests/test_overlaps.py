"""Overlap warnings (issue 19): two live sessions of one repo editing one file are flagged in
`list`/`status` with the predicted conflict, and before landing. Real git, the command agent, the
real CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import git, run_cli


def _session(repo: Path, name: str, cmd: str) -> str:
    out = run_cli(
        "new", "--repo", str(repo), "--name", name, "--agent", "command", "--agent-cmd", cmd,
        "--prompt", name, "--run", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    return str(json.loads(out.stdout)["id"])


def test_two_live_sessions_editing_one_file_are_flagged(repo: Path) -> None:
    one = _session(repo, "one", "printf 'def add(a, b):\\n    return a + b + 1\\n' > app.py")
    two = _session(repo, "two", "printf 'def add(a, b):\\n    return a + b + 2\\n' > app.py")
    other = _session(repo, "other", "echo x > other.txt")

    listed = {s["id"]: s["overlaps"] for s in json.loads(run_cli("list", "--json").stdout)}
    assert [(o["session_id"], o["files"], o["conflicts"]) for o in listed[one]] == [(two, ["app.py"], ["app.py"])]
    assert [o["session_id"] for o in listed[two]] == [one]
    assert listed[other] == []
    table = run_cli("list")
    assert "overlaps" in table.stdout and "predicted conflict in app.py" in table.stdout

    status = json.loads(run_cli("status", two, "--json").stdout)
    assert [o["session_id"] for o in status["overlaps"]] == [one]
    assert "predicted conflict in app.py" in run_cli("status", two).stdout

    landed = run_cli("land", one)  # warned before landing, then lands (the base is free)
    assert landed.returncode == 0, landed.stderr
    assert f"overlaps {two} (two) on app.py: predicted conflict in app.py" in landed.stdout
    # one is done now: two is no longer flagged (its conflict is with the base, which land reports)
    after = {s["id"]: s["overlaps"] for s in json.loads(run_cli("list", "--json").stdout)}
    assert after[two] == [] and after[one] == []


def test_uncommitted_edits_count_and_a_clean_merge_is_said_so(repo: Path) -> None:
    one = _session(repo, "one", "printf 'x = 1\\n' >> app.py")
    two = _session(repo, "two", "true")
    wt = Path(json.loads(run_cli("status", two, "--json").stdout)["session"]["worktree_path"])
    (wt / "app.py").write_text("# top\n" + (wt / "app.py").read_text())  # not committed yet
    status = json.loads(run_cli("status", one, "--json").stdout)
    assert [(o["session_id"], o["files"]) for o in status["overlaps"]] == [(two, ["app.py"])]
    assert status["overlaps"][0]["conflicts"] == []  # the committed tips merge cleanly


async def test_overlap_checks_skip_lone_sessions_and_bound_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`list` with many live sessions: a session alone in its repo runs no git at all, and at most
    GIT_CONCURRENCY sessions' git calls run at once (each up to two), however many are listed."""
    from ampsm_tui.engine.models import Session
    from ampsm_tui.engine.overlap import GIT_CONCURRENCY, find_overlaps

    def make_repo(name: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        git(path, "init", "-q", "-b", "main")
        (path / "app.py").write_text("x = 0\n")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "initial")
        return path

    def make_session(repo: Path, n: int) -> Session:
        wt = repo / ".worktrees" / f"s{n}"
        git(repo, "worktree", "add", "-q", "-b", f"amp/s{n}", str(wt), "main")
        (wt / "app.py").write_text(f"x = {n + 1}\n")
        git(wt, "commit", "-qam", f"s{n}")
        return Session(
            id=f"sess-{n:08d}", name=f"s{n}", repo_path=str(repo), base_branch="main", branch=f"amp/s{n}",
            worktree_path=str(wt),
        )  # fmt: skip

    shared = make_repo("shared")
    sessions = [make_session(shared, n) for n in range(12)]
    lone = [make_session(make_repo(f"lone{n}"), 100 + n) for n in range(3)]

    log = tmp_path / "git-calls.log"
    shim = tmp_path / "shim"
    shim.mkdir()
    real_git = shutil.which("git")
    (shim / "git").write_text(
        f'#!/bin/sh\necho "start $$ $PWD" >> {log}\n{real_git} "$@"\nrc=$?\necho "end $$" >> {log}\nexit $rc\n'
    )
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")

    found = await find_overlaps([*lone, *sessions])

    assert sorted(found) == sorted(s.id for s in sessions)  # every shared-repo session overlaps the others
    assert all(len(found[s.id]) == 11 and found[s.id][0].conflicts == ["app.py"] for s in sessions)
    lines = log.read_text().splitlines()
    starts = [line.split(" ", 2)[2] for line in lines if line.startswith("start ")]
    assert starts and not [cwd for cwd in starts if "/lone" in cwd]  # no git for a session alone in its repo
    running = peak = 0
    for line in lines:
        running += 1 if line.startswith("start ") else -1
        peak = max(peak, running)
    assert peak <= 2 * GIT_CONCURRENCY, peak


def test_a_repo_with_many_live_sessions_compares_its_most_recent_ones(tmp_path: Path) -> None:
    """A big batch on one repo: only the PER_REPO most recently updated live sessions are compared
    (the pairs grow with the square), ended sessions and missing worktrees never."""
    from ampsm_tui.engine.models import Session, SessionStatus
    from ampsm_tui.engine.overlap import sharing_a_repo

    def session(n: int, repo: str = "r", status: str = "idle", worktree: bool = True) -> Session:
        wt = tmp_path / f"wt{n}"
        if worktree:
            wt.mkdir()
        return Session(
            id=f"sess-{n:08d}", name=str(n), repo_path=repo, base_branch="main", worktree_path=str(wt),
            status=SessionStatus(status), updated_at=f"2025-03-14T10:{n:02d}:00.000Z",
        )  # fmt: skip

    many = [session(n) for n in range(10)]
    kept = sharing_a_repo(many, per_repo=4)
    assert [s.id for s in kept] == [f"sess-{n:08d}" for n in (9, 8, 7, 6)]
    others = [session(20, "alone"), session(21, status="done"), session(22, worktree=False)]
    assert {s.id for s in sharing_a_repo([*many[:2], *others])} == {"sess-00000000", "sess-00000001"}
