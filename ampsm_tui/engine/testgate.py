"""The test script: the quality gate after every iteration.

The script is the user's own command line (`npm test`, `make check && ruff .`), so it runs through
`/bin/sh -c` like a Makefile recipe would; prompts and names never do. It runs in its own process
group so a timeout kills everything it started.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .procgroup import spawn_in_group, stop_process
from .secrets import redact

MAX_LOG_BYTES = 256 * 1024
PIPE_GRACE_S = 2.0


@dataclass
class TestResult:
    exit_code: int | None
    log: str
    duration_ms: int
    timed_out: bool = False

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


#: redaction sees this much more than is kept, so a key straddling the cut is redacted whole first
CUT_OVERLAP = 4096


def _tail(data: bytes) -> str:
    """The last MAX_LOG_BYTES of the log, redacted *before* it is cut: cutting first could keep the
    end of a key whose start was cut off, which no pattern recognises any more."""
    if len(data) <= MAX_LOG_BYTES:
        return redact(data.decode("utf-8", "replace"))
    # The window starts 2*CUT_OVERLAP before the cut; whatever its start cut through lies in its
    # first CUT_OVERLAP bytes, which stay within the first 2*CUT_OVERLAP characters after redaction
    # (a replacement grows a match by at most 4 of its 6+ characters), and those are dropped.
    text = redact(data[-(MAX_LOG_BYTES + 2 * CUT_OVERLAP) :].decode("utf-8", "replace"))[2 * CUT_OVERLAP :]
    kept = text.encode("utf-8")[-MAX_LOG_BYTES:].decode("utf-8", "ignore")
    return "[... earlier output trimmed ...]\n" + kept


async def kill_group(proc: asyncio.subprocess.Process, grace: float = 2.0) -> None:
    """SIGTERM the whole process group, then SIGKILL what is left after `grace` seconds."""
    await stop_process(proc, grace)


async def run_script(script: str, cwd: Path, *, timeout: float | None, env: dict[str, str] | None = None) -> TestResult:
    started = time.monotonic()
    proc = await spawn_in_group(  # a cancel during the spawn ends the script's group too
        "/bin/sh",
        "-c",
        script,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    reader = asyncio.create_task(proc.stdout.read())
    try:
        async with asyncio.timeout(timeout):
            # Not proc.wait(): on 3.11 it waits for the pipes too, and a server the script left
            # running in the background (`./serve &`) would hold them open until the timeout.
            while proc.returncode is None:
                await asyncio.sleep(0.02)
    except TimeoutError:
        await kill_group(proc)
        reader.cancel()
        ms = int((time.monotonic() - started) * 1000)
        return TestResult(None, f"test script timed out after {timeout:g}s", ms, timed_out=True)
    except asyncio.CancelledError:
        await kill_group(proc)
        reader.cancel()
        raise
    code = proc.returncode
    try:
        out = await asyncio.wait_for(asyncio.shield(reader), PIPE_GRACE_S)
    except TimeoutError:  # a background child still holds the output: end it, keep what we have
        await kill_group(proc)
        out = await reader
    else:
        await kill_group(proc, grace=0.5)  # nothing of the script outlives it
    ms = int((time.monotonic() - started) * 1000)
    return TestResult(code, _tail(out or b""), ms)
