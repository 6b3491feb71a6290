"""Time in one format: UTC ISO-8601 with milliseconds, which sorts as text in SQLite.

`now_iso()` and `stamp()` are written from `time` alone: the lean command paths (`ampsm new`,
`squash`, `merge`) need the current time as text, and importing `datetime` was 2 ms of each.
`AMPSM_FIXED_NOW` (tests and screenshots pin the clock) goes through `utcnow()` as before.
"""

from __future__ import annotations

import os
import time

#: The time part of a session branch and an archive ref (`stamp()`).
STAMP_FORMAT = "%Y%m%d-%H%M%S"

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from datetime import datetime


def utcnow() -> datetime:
    from datetime import UTC, datetime

    fixed = os.environ.get("AMPSM_FIXED_NOW")
    if fixed:  # tests and screenshots pin the clock
        return datetime.fromisoformat(fixed).astimezone(UTC)
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    from datetime import UTC

    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    """`to_iso(utcnow())`: `2025-01-02T03:04:05.678Z` (milliseconds truncated, as isoformat does)."""
    if os.environ.get("AMPSM_FIXED_NOW"):
        return to_iso(utcnow())
    ns = time.time_ns()  # what datetime.now reads, floored to microseconds there: the same milliseconds
    t = time.gmtime(ns // 1_000_000_000)
    return f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}T{t[3]:02d}:{t[4]:02d}:{t[5]:02d}.{ns // 1_000_000 % 1000:03d}Z"


def stamp() -> str:
    """`utcnow().strftime("%Y%m%d-%H%M%S")`: the time part of a session branch or an archive ref."""
    if os.environ.get("AMPSM_FIXED_NOW"):
        return utcnow().strftime(STAMP_FORMAT)
    t = time.gmtime()
    return f"{t[0]:04d}{t[1]:02d}{t[2]:02d}-{t[3]:02d}{t[4]:02d}{t[5]:02d}"


def parse_iso(text: str) -> datetime:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))
