"""The repository lock across real processes: exclusion, timeout naming the holder, dead holders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ampsm_tui.engine.errors import ErrorCode
from ampsm_tui.engine.git import LockTimeout, RepoLock

HOLD = """
import asyncio, sys
from pathlib import Path
from ampsm_tui.engine.git import RepoLock
async def main():
    async with RepoLock(Path(sys.argv[1]), 30, purpose="holder test"):
        print("locked", flush=True)
        sys.stdin.readline()
asyncio.run(main())
"""

CRITICAL = """
import asyncio, os, sys, time
from pathlib import Path
from ampsm_tui.engine.git import RepoLock
log = Path(sys.argv[2])
async def main():
    for _ in range(3):
        async with RepoLock(Path(sys.argv[1]), 60):
            with log.open("a") as fh:
                fh.write(f"enter {os.getpid()}\\n")
            await asyncio.sleep(0.01)
            with log.open("a") as fh:
                fh.write(f"exit {os.getpid()}\\n")
asyncio.run(main())
"""


def _holder(repo: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(repo)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


async def test_timeout_names_the_holder_pid(repo: Path) -> None:
    proc = _holder(repo)
    try:
        with pytest.raises(LockTimeout) as exc:
            async with RepoLock(repo, timeout=0.3):
                pass
        assert exc.value.code is ErrorCode.GIT
        assert f"pid {proc.pid}" in exc.value.message
        assert "holder_test" in exc.value.message
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(30)
    async with RepoLock(repo, timeout=5):  # released by its holder
        pass


async def test_lock_of_a_killed_process_is_taken_over(repo: Path) -> None:
    proc = _holder(repo)
    proc.kill()
    proc.wait(30)
    lock_file = repo / ".git" / "ampsm.lock"
    assert f"pid={proc.pid}" in lock_file.read_text()  # the dead holder's stamp is still there
    async with RepoLock(repo, timeout=5):
        assert f"pid={os.getpid()}" in lock_file.read_text()


async def test_lock_lives_in_common_dir_and_is_shared_by_linked_worktrees(repo: Path) -> None:
    from ampsm_tui.engine.git import create_worktree

    info = await create_worktree(repo, "sess-1", "x", "main")
    async with RepoLock(repo, 5) as outer:
        assert outer.path == str(repo / ".git" / "ampsm.lock")
        proc = subprocess.run(
            [sys.executable, "-c", HOLD.replace("30,", "0.2,"), str(Path(info.path))],
            input="\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode != 0 and f"pid {os.getpid()}" in proc.stderr


async def test_reentrant_within_a_task(repo: Path) -> None:
    async with RepoLock(repo, 1), RepoLock(repo, 0.1):
        pass


def test_processes_never_overlap_inside_the_lock(repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    procs = [subprocess.Popen([sys.executable, "-c", CRITICAL, str(repo), str(log)]) for _ in range(4)]
    assert [p.wait(110) for p in procs] == [0] * 4
    lines = log.read_text().splitlines()
    assert len(lines) == 4 * 3 * 2
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        assert enter.startswith("enter ") and leave == "exit " + enter.split()[1]


HOLD_SHARED = """
import asyncio, sys
from pathlib import Path
from ampsm_tui.engine.git import RepoLock
async def main():
    async with RepoLock(Path(sys.argv[1]), 30, purpose="commit", shared=True):
        print("locked", flush=True)
        sys.stdin.readline()
asyncio.run(main())
"""


async def test_commits_share_the_lock_and_exclusive_operations_wait_for_them(repo: Path) -> None:
    """An iteration's commit takes the lock shared: another process's commit gets in beside it, a
    worktree add or a merge (exclusive) does not until the commit is done."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SHARED, str(repo)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        async with RepoLock(repo, 2, shared=True):  # a second commit, elsewhere: no wait
            pass
        with pytest.raises(LockTimeout):
            async with RepoLock(repo, 0.3):
                pass
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(10)
    async with RepoLock(repo, 2):  # released: the exclusive one gets in
        pass
