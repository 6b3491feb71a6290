"""Database backups: `database.backup_interval` and `database.backup_keep`, `db backup`, `db restore`.

Backups are online copies (SQLite's backup API, in a thread) into `<config dir>/backups/`, named by
time, mode 0600, keeping the newest `backup_keep`. `maybe_backup` is what the Engine calls when it
opens: a backup when the newest one is older than the interval (0 disables). A restore checks the
file first and keeps the current database aside before replacing anything.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .clock import utcnow
from .config import Config
from .errors import AmpsmError, ErrorCode
from .store.migrations import LATEST
from .store.snapshot import check_database, copy_database

log = logging.getLogger(__name__)

PREFIX = "sessions-"
SUFFIX = ".db"


def backups_dir(config: Config) -> Path:
    return config.config_dir / "backups"


def list_backups(config: Config) -> list[Path]:
    """Newest first."""
    folder = backups_dir(config)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX) and p.is_file()]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


def _free_name(folder: Path) -> Path:
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = folder / f"{PREFIX}{stamp}{'' if n == 0 else f'-{n}'}{SUFFIX}"
        if not path.exists():
            return path
    raise AmpsmError(ErrorCode.DATABASE, f"no free backup name in {folder}")  # pragma: no cover


def backup_now(config: Config, dest: Path | None = None) -> Path:
    """Copy the database now (blocking); prune old backups when writing into the backups folder."""
    source = config.db_path
    if not source.exists():
        raise AmpsmError(ErrorCode.DATABASE, f"no database at {source} to back up")
    folder = backups_dir(config)
    target = dest or _free_name(folder)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        copy_database(source, partial, busy_timeout_ms=config.database.busy_timeout_ms)
        messages, _ = check_database(partial)
        if messages != ["ok"]:
            raise AmpsmError(ErrorCode.DATABASE, f"the backup of {source} failed its integrity check: {messages[0]}")
        partial.replace(target)  # a half-written file never looks like a backup
    except sqlite3.DatabaseError as exc:
        raise AmpsmError(ErrorCode.DATABASE, f"backing up {source} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    if dest is None:
        prune(config)
    return target


def prune(config: Config) -> list[Path]:
    removed = []
    for old in list_backups(config)[config.database.backup_keep :]:
        old.unlink(missing_ok=True)
        removed.append(old)
    return removed


def backup_due(config: Config, now: float | None = None) -> bool:
    interval = config.database.backup_interval
    if interval <= 0 or not config.db_path.exists():
        return False
    newest = list_backups(config)
    if not newest:
        return True
    return (now if now is not None else time.time()) - newest[0].stat().st_mtime >= interval


def maybe_backup(config: Config) -> Path | None:
    """A backup when the newest one is older than `database.backup_interval`; never raises."""
    if not backup_due(config):
        return None
    try:
        return backup_now(config)
    except (AmpsmError, OSError) as exc:
        log.warning("periodic database backup failed: %s", exc)
        return None


async def maybe_backup_async(config: Config) -> Path | None:
    return await asyncio.to_thread(maybe_backup, config)


@dataclass
class RestoreResult:
    restored_from: Path
    kept_aside: Path | None
    schema_version: int


def verify_backup(path: Path) -> int:
    """The file's schema version; E003 when it is not an intact ampsm database."""
    if not path.is_file():
        raise AmpsmError(ErrorCode.DATABASE, f"no such backup file: {path}")
    try:
        messages, version = check_database(path)
    except sqlite3.DatabaseError as exc:
        raise AmpsmError(ErrorCode.DATABASE, f"{path} is not a usable database: {exc}") from exc
    if messages != ["ok"]:
        raise AmpsmError(ErrorCode.DATABASE, f"{path} failed its integrity check: {messages[0]}")
    if version is None:
        raise AmpsmError(ErrorCode.DATABASE, f"{path} is not an ampsm database (no schema_version table)")
    if version > LATEST:  # restoring it would hand this version rows it cannot read
        raise AmpsmError(
            ErrorCode.DATABASE,
            f"{path} has schema version {version}, newer than this ampsm understands (version {LATEST});"
            " nothing was restored: upgrade ampsm to use it",
        )
    return version


def restore(config: Config, source: Path) -> RestoreResult:
    """Check `source`, keep the current database aside, then copy `source` over it (blocking)."""
    source = source.expanduser().resolve()
    version = verify_backup(source)
    target = config.db_path
    if source == target.resolve():
        raise AmpsmError(ErrorCode.DATABASE, "that file is the current database")
    aside = None
    try:
        if target.exists():
            stamp = utcnow().strftime("%Y%m%d-%H%M%S")
            aside = target.with_name(f"{target.name}.before-restore-{stamp}")
            n = 1
            while aside.exists():
                aside = target.with_name(f"{target.name}.before-restore-{stamp}-{n}")
                n += 1
            copy_database(target, aside, busy_timeout_ms=config.database.busy_timeout_ms)
        copy_database(source, target, busy_timeout_ms=config.database.busy_timeout_ms)
    except sqlite3.DatabaseError as exc:
        kept = f"; the previous database is kept at {aside}" if aside else ""
        raise AmpsmError(ErrorCode.DATABASE, f"restoring {source} failed: {exc}{kept}") from exc
    messages, _ = check_database(target)
    if messages != ["ok"]:
        raise AmpsmError(ErrorCode.DATABASE, f"the restored database failed its integrity check; previous at {aside}")
    return RestoreResult(restored_from=source, kept_aside=aside, schema_version=version)
