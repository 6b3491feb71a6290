"""Process groups: the one place that signals and reaps them.

Everything ampsm starts that may start children of its own (an agent, a test script, a SWE-bench
grader, `--version` probes) runs in its own session (`start_new_session=True`), so its pid is the
id of a process group that holds everything it spawned. Stopping it means stopping the group, not
the leader alone: a test runner's server or an agent's shell must not outlive it (lesson 15).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: How long a group gets between SIGTERM and SIGKILL by default.
DEFAULT_GRACE_S = 5.0


def group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process left in the group? /proc where there is one, else kill(0)."""
    try:  # no process at all, zombies included: no need to read every process's stat (per agent turn)
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 2 and fields[0] != "Z" and fields[2] == str(pgid):
                return True
        return False
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a process group (a leader's pid is its group id). False if it is gone."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


async def terminate_group(pgid: int, grace_s: float = DEFAULT_GRACE_S) -> None:
    """SIGTERM the group, wait up to `grace_s` for it to go, then SIGKILL what is left. For a group
    whose leader is reaped elsewhere (by its reader task)."""
    if not group_alive(pgid):
        return
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if not group_alive(pgid):
            return
    signal_group(pgid, signal.SIGKILL)
    await _gone_after_kill(pgid)


async def _gone_after_kill(pgid: int) -> None:
    for _ in range(100):  # SIGKILL cannot be ignored; only give the kernel a moment (more when loaded)
        if not group_alive(pgid):
            return
        await asyncio.sleep(0.05)
    log.warning("process group %s still has processes after SIGKILL", pgid)


async def stop_process(proc: asyncio.subprocess.Process, grace_s: float = 2.0) -> None:
    """Stop an asyncio child and its whole group: SIGTERM, then SIGKILL after `grace_s`; the leader
    is reaped, and no child of the group survives it."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        if grace_s <= 0 and sig == signal.SIGTERM:
            continue
        signal_group(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), wait)
        except TimeoutError:
            continue
        signal_group(proc.pid, signal.SIGKILL)  # the leader is gone; its children go too
        await _gone_after_kill(proc.pid)  # ... and are gone when this returns, not a moment later
        return


async def spawn_in_group(program: str, *args: str, grace_s: float = 2.0, **kwargs: Any) -> asyncio.subprocess.Process:
    """`asyncio.create_subprocess_exec(..., start_new_session=True)` that a cancel cannot split.

    Why: a cancel that lands after the fork but before asyncio has connected the child's pipes (a
    batch stopped just as an item's agent starts) makes asyncio SIGKILL the leader alone and then
    wait until the pipes close; a child of the leader (the command a shell ran) holds them open, so
    the cancel waited for as long as that child ran, and left it running. Here the spawn completes,
    the whole group is ended (`stop_process`, `grace_s` between SIGTERM and SIGKILL) and reaped,
    and only then does the cancel go on."""
    spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(program, *args, start_new_session=True, **kwargs))
    try:
        return await asyncio.shield(spawn)
    except asyncio.CancelledError:
        ending = asyncio.ensure_future(_end_spawned(spawn, grace_s))
        while not ending.done():  # a second cancel meanwhile does not leave the group behind either
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(ending)
        raise


async def _end_spawned(spawn: asyncio.Future[asyncio.subprocess.Process], grace_s: float) -> None:
    try:
        proc = await spawn
    except Exception:  # it did not start: nothing to end
        return
    await stop_process(proc, grace_s)


def kill_popen(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a (blocking) Popen child's group and reap it (its pipes drained and closed)."""
    signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
        proc.communicate(timeout=5)
