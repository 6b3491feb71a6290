"""Time in one format: UTC ISO-8601 with milliseconds, which sorts as text in SQLite."""

from __future__ import annotations

import os
from datetime import UTC, datetime


def utcnow() -> datetime:
    fixed = os.environ.get("AMPSM_FIXED_NOW")
    if fixed:  # tests and screenshots pin the clock
        return datetime.fromisoformat(fixed).astimezone(UTC)
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return to_iso(utcnow())


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
