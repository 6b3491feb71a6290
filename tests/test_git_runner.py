"""The git runner's two drivers: a thread per call under an event loop, and `run_sync` with no
event loop at all (the lean CLI paths). Real git, real repositories, real processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ampsm_tui.engine.git import RepoLock, create_worktree, remove_worktree, repo_paths
from ampsm_tui.engine.git.runner import Suspended, git, in_sync_mode, run_sync

from .test_git_locks import _holder


def _git_pids_with(marker: str) -> list[int]:
    """Live `git` processes whose command line holds `marker`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if argv and argv[0].endswith(b"git") and marker.encode() in b" ".join(argv) and state != "Z":
            pids.append(int(entry.name))
    return pids


def _slow(marker: str) -> tuple[str, ...]:
    """A git call that runs until killed: an alias that sleeps (the marker names it in `ps`)."""
    return ("-c", f"alias.slow=!sleep 30 # {marker}", "slow")


async def test_a_call_runs_git_and_keeps_its_output(repo: Path) -> None:
    res = await git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo)
    assert res.ok and res.out == "main"
    bad = await git("rev-parse", "--verify", "no-such-ref", cwd=repo, check=False)
    assert not bad.ok and bad.returncode == 128 and "fatal" in bad.stderr


async def test_cancelling_a_call_kills_its_git(repo: Path) -> None:
    marker = f"cancel-{os.getpid()}-{time.monotonic_ns()}"
    task = asyncio.create_task(git(*_slow(marker), cwd=repo))
    for _ in range(600):  # up to a minute on a loaded machine for git to start
        if _git_pids_with(marker):
            break
        await asyncio.sleep(0.1)
    assert _git_pids_with(marker)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _git_pids_with(marker) == []  # killed and reaped before the cancel came back


async def test_a_call_past_its_timeout_is_killed(repo: Path) -> None:
    marker = f"timeout-{os.getpid()}-{time.monotonic_ns()}"
    with pytest.raises(TimeoutError):
        await git(*_slow(marker), cwd=repo, timeout=0.5)
    assert _git_pids_with(marker) == []


async def test_calls_side_by_side_do_not_block_the_event_loop(repo: Path) -> None:
    """Ten git calls at once, while the loop keeps ticking: each runs on a thread."""
    ticks = 0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    results = await asyncio.gather(*(git("rev-parse", "HEAD", cwd=repo) for _ in range(10)))
    done.set()
    await ticker
    assert len({r.out for r in results}) == 1 and all(r.ok for r in results)
    assert ticks > 10


def test_run_sync_runs_the_git_layer_without_an_event_loop(repo: Path) -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    info = run_sync(create_worktree(repo, "sess-0000abcd", "sync made", "main"))
    assert (info.path / ".git").is_file() and info.branch.startswith("amp/sync-made/")
    assert subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=info.path, capture_output=True,
                          text=True).stdout.strip() == info.branch  # fmt: skip
    removed = run_sync(remove_worktree(repo, info.path, info.branch, session_id=info.session_id))
    assert removed.removed_worktree and removed.deleted_branch and not info.path.exists()
    assert not in_sync_mode()  # the mode ends with the coroutine


def test_run_sync_refuses_a_coroutine_that_needs_an_event_loop() -> None:
    async def waits() -> None:
        await asyncio.sleep(0)

    with pytest.raises(Suspended):
        run_sync(waits())
    assert not in_sync_mode()


def test_run_sync_waits_for_a_held_lock(repo: Path) -> None:
    """A lock wait without an event loop sleeps on the thread; the lock is taken once released."""
    holder = _holder(repo)

    async def locked() -> str:
        async with RepoLock(repo, timeout=60):
            return (await repo_paths(repo)).root.name

    release = subprocess.Popen([sys.executable, "-c", f"import os, time; time.sleep(0.5); os.kill({holder.pid}, 9)"])
    try:
        started = time.monotonic()
        assert run_sync(locked()) == repo.name
        assert time.monotonic() - started >= 0.4  # it did wait for the holder
    finally:
        release.wait(30)
        holder.kill()
        holder.wait(30)
