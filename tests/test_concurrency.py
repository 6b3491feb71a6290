"""The TUI and any number of CLIs run at once: one iteration per session at a time, no merge under a
running iteration, no second owner for a batch. Real processes, a real DB, real git."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ampsm_tui.engine.engine import Engine
from ampsm_tui.engine.errors import UsageError
from tests.conftest import git, run_cli
from tests.test_batch_acceptance import _counts, _start, _wait_for, workspace


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "sessions.db")


def _new(repo: Path, cmd: str) -> str:
    out = run_cli("new", "--repo", str(repo), "--name", "race", "--agent", "command", "--agent-cmd", cmd, "--json")
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout)["id"])


def _status(home: Path, sid: str) -> str:
    with _db(home) as conn:
        return str(conn.execute("SELECT status FROM sessions WHERE id = ?", (sid,)).fetchone()[0])


def _iterations(home: Path, sid: str) -> int:
    with _db(home) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM iterations WHERE session_id = ?", (sid,)).fetchone()[0])


async def test_two_engines_iterating_one_session_at_once_run_it_once(repo: Path, isolated_env: Path) -> None:
    """Both read `idle` before either writes `running` (the interleaving the TUI and a CLI can hit):
    the claim is atomic, so exactly one runs and the other gets a clear error."""
    sid = _new(repo, f"{sys.executable} -c 'import time; time.sleep(0.5)'")
    first, second = await Engine.open(), await Engine.open()
    try:
        results: list[Any] = await asyncio.gather(
            first.sessions.iterate(sid), second.sessions.iterate(sid), return_exceptions=True
        )
    finally:
        await first.close()
        await second.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], UsageError), results
    assert "already running" in errors[0].message
    assert _iterations(isolated_env, sid) == 1
    assert _status(isolated_env, sid) == "idle"


def test_second_iterate_and_merge_are_refused_while_one_runs(repo: Path, isolated_env: Path) -> None:
    sid = _new(repo, f"{sys.executable} -c 'import time; time.sleep(20)'")
    head = git(repo, "rev-parse", "main")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ampsm_tui", "iterate", sid], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for(lambda: _status(isolated_env, sid) == "running", "the iteration to start", proc)  # type: ignore[arg-type]
        again = run_cli("iterate", sid)
        assert again.returncode == 2 and again.stderr.startswith("error:"), again.stderr
        assert "already running" in again.stderr
        merge = run_cli("merge", sid)
        assert merge.returncode == 2 and "running an iteration" in merge.stderr, merge.stderr
        assert run_cli("cancel", sid).returncode == 0
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _iterations(isolated_env, sid) == 1
    assert _status(isolated_env, sid) == "interrupted"
    assert git(repo, "rev-parse", "main") == head and git(repo, "status", "--porcelain") == ""


def test_iterate_refused_for_a_session_claimed_by_a_live_process_leaves_no_row(repo: Path, isolated_env: Path) -> None:
    """The claim is checked before anything is written: no iteration row from the refused one."""
    sid = _new(repo, "true")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        from ampsm_tui.engine.procinfo import process_start_time

        time.sleep(0.1)
        with _db(isolated_env) as conn:
            conn.execute(
                "UPDATE sessions SET status = 'running', pid = ?, pid_started_at = ? WHERE id = ?",
                (sleeper.pid, process_start_time(sleeper.pid), sid),
            )
        out = run_cli("iterate", sid)
        assert out.returncode == 2 and "already running" in out.stderr, out.stderr
        assert _iterations(isolated_env, sid) == 0
        assert _status(isolated_env, sid) == "running"  # still the live holder's
    finally:
        sleeper.kill()
        sleeper.wait()
    out = run_cli("iterate", sid)  # the holder died: the next iterate takes over
    assert out.returncode == 0, out.stderr
    assert _iterations(isolated_env, sid) == 1


@pytest.mark.slow
def test_batch_resume_of_a_batch_whose_owner_is_alive_is_refused(tmp_path: Path, isolated_env: Path) -> None:
    f = workspace(tmp_path, 1, 2, hold=30.0, concurrency=1)
    proc = _start(f)
    try:
        _wait_for(lambda: _counts(isolated_env).get("running", 0) == 1, "a running item", proc)
        with _db(isolated_env) as conn:
            batch_id = conn.execute("SELECT id FROM batch_runs").fetchone()[0]
        out = run_cli("batch", "resume", batch_id)
        assert out.returncode == 2 and out.stderr.startswith("error:"), out.stderr
        assert "is running in process" in out.stderr
        assert _counts(isolated_env).get("running", 0) == 1  # the owner's item untouched
        assert run_cli("batch", "abort", batch_id).returncode == 0
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_batch_claim_is_atomic_against_a_live_owner(isolated_env: Path) -> None:
    """The owner check and the claim are one transaction (the scheduler's earlier check is only a
    courtesy): a claim against a live owner is refused even when it skips that check."""
    from ampsm_tui.engine.models import BatchRun
    from ampsm_tui.engine.procinfo import process_start_time

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    engine = await Engine.open()
    try:
        time.sleep(0.1)
        run = await engine.store.create_batch(BatchRun(name="b", definition="{}"), [])
        assert (
            await engine.store.claim_batch(run.id, sleeper.pid, process_start_time(sleeper.pid), concurrency=1) is None
        )
        assert await engine.store.claim_batch(run.id, 1_000_000 + sleeper.pid, None, concurrency=1) == sleeper.pid
    finally:
        await engine.close()
        sleeper.kill()
        sleeper.wait()


def test_cancel_never_signals_its_own_process(repo: Path, isolated_env: Path) -> None:
    """A session left `running` under this very process's pid (an embedding host, a crashed engine
    in a long-lived process) is not cancelled by SIGTERM to ourselves."""
    import os
    import signal

    from ampsm_tui.engine.procinfo import process_start_time

    sid = _new(repo, "true")
    with _db(isolated_env) as conn:
        conn.execute(
            "UPDATE sessions SET status = 'running', pid = ?, pid_started_at = ? WHERE id = ?",
            (os.getpid(), process_start_time(os.getpid()), sid),
        )
    received: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: received.append(signum))
    try:
        out = run_cli("cancel", sid)
        time.sleep(0.2)  # a signal sent to ourselves is delivered at once; give it a moment anyway
    finally:
        signal.signal(signal.SIGTERM, previous)
    # without the guard the signal reaches the command's own loop, which stops as "terminated"
    assert received == [] and "terminated" not in out.stderr, out.stderr
    assert out.returncode in (0, 1), out.stderr


async def test_session_claim_takes_a_free_or_dead_holders_session_and_refuses_a_live_one(
    repo: Path, isolated_env: Path
) -> None:
    """The claim's three cases, straight on the store: a session nobody runs is claimed (the one
    conditional UPDATE), a live holder's is refused with its pid and left as it is, a dead
    holder's is taken over."""
    from ampsm_tui.engine.procinfo import me, process_start_time

    sid = _new(repo, "true")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    engine = await Engine.open()
    try:
        store = engine.store
        assert await store.claim_session(sid, sleeper.pid, process_start_time(sleeper.pid)) is None
        held = await store.get_session(sid)
        assert held is not None and str(held.status) == "running" and held.pid == sleeper.pid
        pid, started = me()
        assert await store.claim_session(sid, pid, started) == sleeper.pid
        still = await store.get_session(sid)
        assert still is not None and still.pid == sleeper.pid and still.pid_started_at == held.pid_started_at
        sleeper.kill()
        sleeper.wait()
        assert await store.claim_session(sid, pid, started) is None
        taken = await store.get_session(sid)
        assert taken is not None and str(taken.status) == "running" and taken.pid == pid
    finally:
        await engine.close()
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()


def test_the_check_before_an_iteration_shares_the_repo_lock_with_other_worktrees_commits(
    repo: Path, isolated_env: Path
) -> None:
    """Another process holds the repository lock shared (as an iteration's commit in another
    worktree does): the next iteration's check of its own worktree takes it shared too and runs,
    instead of waiting for it (here: until the lock timeout, E001)."""
    (isolated_env / "config.yaml").write_text("git:\n  lock_timeout: 2\n")
    sid = _new(repo, "echo done > done.txt")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_SH)\n"
            "print('held', flush=True)\n"
            "time.sleep(120)\n",
            str(repo / ".git" / "ampsm.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        out = run_cli("iterate", sid, "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["commit_sha"]
    finally:
        holder.kill()
        holder.wait()
