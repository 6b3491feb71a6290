"""Ids for shell completion: one synchronous read-only query, no aiosqlite, no migrations.

Completion runs on every Tab press, so it must not create, migrate or lock anything: a missing or
unreadable database simply completes nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

LIMIT = 200


def _query(db: Path, sql: str, prefix: str) -> list[tuple[str, str]]:
    if not db.is_file():
        return []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return []
    try:
        rows = conn.execute(sql, (prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%", LIMIT))
        return [(str(a), str(b or "")) for a, b in rows]
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def session_ids(db: Path, prefix: str = "") -> list[tuple[str, str]]:
    """(id, name) of sessions that are not archived, newest first."""
    return _query(
        db,
        "SELECT id, name FROM sessions WHERE id LIKE ? ESCAPE '\\' AND status != 'archived' "
        "ORDER BY created_at DESC LIMIT ?",
        prefix,
    )


def batch_ids(db: Path, prefix: str = "") -> list[tuple[str, str]]:
    """(id, name) of batch runs, newest first."""
    return _query(
        db, "SELECT id, name FROM batch_runs WHERE id LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT ?", prefix
    )
