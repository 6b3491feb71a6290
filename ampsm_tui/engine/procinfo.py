"""Is a recorded process still the one we started? (lesson 21: status is the truth)

A pid alone can be reused; the pid plus its start time identifies one process. On Linux the start
time comes from /proc; elsewhere we fall back to "a process with that pid exists".
"""

from __future__ import annotations

import os
from pathlib import Path


def process_start_time(pid: int) -> float | None:
    """Start time of `pid` in clock ticks since boot (Linux), or None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return float(fields[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def same_process(pid: int | None, started_at: float | None) -> bool:
    if not pid or not pid_alive(pid):
        return False
    if started_at is None:
        return True
    now = process_start_time(pid)
    return now is None or now == started_at


def me() -> tuple[int, float | None]:
    pid = os.getpid()
    return pid, process_start_time(pid)
