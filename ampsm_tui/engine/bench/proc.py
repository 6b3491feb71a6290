"""Subprocesses for evaluation: argument lists only, own process group, killed as a group at the
timeout (a test runner's children die with it)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..procgroup import signal_group


@dataclass
class ProcResult:
    returncode: int | None  # None when it timed out
    output: str  # stdout and stderr interleaved, as a terminal would show them
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _kill_group(pid: int) -> None:
    signal_group(pid, signal.SIGKILL)


async def run(
    argv: Sequence[str],
    *,
    cwd: Path | str,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> ProcResult:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=str(cwd),
        env=dict(env) if env is not None else None,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        _kill_group(proc.pid)
        with contextlib.suppress(Exception):
            out, _ = await asyncio.wait_for(proc.communicate(), 10)
        return ProcResult(None, "", timed_out=True)
    except BaseException:  # cancelled: never leave the group running
        _kill_group(proc.pid)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 10)
        raise
    return ProcResult(proc.returncode, out.decode("utf-8", errors="replace"))


async def git(*args: str, cwd: Path | str, timeout: float | None = 300, stdin: bytes | None = None) -> ProcResult:
    """git through the engine's one git runner (its options and non-interactive environment), as a
    `ProcResult`: stdout then stderr as `output`, `timed_out` when it was killed at `timeout`."""
    from ..git.runner import git as run_git

    try:
        res = await run_git(*args, cwd=cwd, check=False, input=stdin, timeout=timeout)
    except TimeoutError:
        return ProcResult(None, "", timed_out=True)
    return ProcResult(res.returncode, res.stdout + res.stderr)
