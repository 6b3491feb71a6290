"""Whole-database copies with SQLite's online backup API, and the checks a copy must pass.

Synchronous on purpose (callers run them in a thread): the backup API copies a consistent snapshot
while other connections keep writing (in WAL mode they are not even blocked), which a file copy of a
live database with its `-wal` beside it cannot promise.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..fsperm import private_dir


def _private(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if p.exists():
            try:
                os.chmod(p, 0o600)
            except OSError:
                pass


def copy_database(source: Path, target: Path, *, busy_timeout_ms: int = 10000) -> None:
    """`source` → `target` in one backup step (a consistent snapshot of committed data).

    `target` may be a live database: the backup API replaces its content under SQLite's locks, so
    other connections see the new content rather than a file swapped under them."""
    private_dir(target.parent)
    if not target.exists():  # created 0600, never briefly world-readable
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
    src = sqlite3.connect(source, timeout=busy_timeout_ms / 1000)
    try:
        dst = sqlite3.connect(target, timeout=busy_timeout_ms / 1000)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    _private(target)


def check_database(path: Path) -> tuple[list[str], int | None]:
    """(integrity_check messages, ampsm schema version or None when it is not an ampsm database).
    Raises sqlite3.DatabaseError when the file is not a database at all."""
    conn = sqlite3.connect(path)
    try:
        messages = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
        has_versions = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        version = None
        if has_versions:
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            version = int(row[0] or 0) if row else 0
        return messages, version
    finally:
        conn.close()
