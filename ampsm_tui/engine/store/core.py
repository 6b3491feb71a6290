"""The connection, its pragmas and migrations. The only SQL lives in this package."""

from __future__ import annotations

import asyncio
import contextvars
import os
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiosqlite
from pydantic import BaseModel

from ..clock import now_iso
from ..errors import AmpsmError, ErrorCode
from ..fsperm import private_dir
from ..secrets import scrub
from .migrations import LATEST, MIGRATIONS

M = TypeVar("M", bound=BaseModel)

#: Columns holding free text a user or an agent wrote (prompts, names, logs, messages). Every write
#: of them goes through `scrub` here, the one choke point, so an API key pasted into a prompt or
#: echoed by a test never lands in the DB (nor in what is exported or printed from it), and
#: non-UTF-8 bytes from argv cannot break a write. Paths, refs and URLs are structural and kept as
#: they are (a repo directory named like a key must still be found).
FREE_TEXT_COLUMNS = frozenset(
    {"name", "prompt", "summary", "test_log", "error", "last_error", "args_summary", "description", "reason"}
    | {"definition", "model_patch", "message"}
)


def _scrubbed(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: scrub(v) if k in FREE_TEXT_COLUMNS and isinstance(v, str) else v for k, v in fields.items()}


def _ensure_private_file(path: Path) -> None:
    if not path.parent.exists():
        private_dir(path.parent)
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass


def db_error(path: Path, exc: BaseException) -> AmpsmError:
    """E003 naming the file. A full disk says so (SQLite's "database or disk is full"), since the
    fix is to free space, not to restore a backup."""
    text = str(exc).strip() or type(exc).__name__
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or "disk is full" in text:
        return AmpsmError(ErrorCode.DATABASE, f"database {path}: the disk is full ({text}); free space and retry")
    if code == getattr(sqlite3, "SQLITE_IOERR_WRITE", -1):
        return AmpsmError(
            ErrorCode.DATABASE, f"database {path}: a write failed ({text}); is the disk full or a file size limit set?"
        )
    return AmpsmError(ErrorCode.DATABASE, f"database {path} is unusable: {text}")


def newer_schema_error(path: Path, found: int) -> AmpsmError:
    """A DB written by a newer ampsm is never opened for writing: its rows may mean what this
    version cannot know, and our migrations would stamp it as ours."""
    return AmpsmError(
        ErrorCode.DATABASE,
        f"database {path} has schema version {found}, newer than this ampsm understands (version {LATEST});"
        " upgrade ampsm, or point AMPSM_DB_PATH at a database of this version",
    )


#: Set (for its own task) by a task an agent waits on: its writes go before the queued writes of
#: tasks that are not marked (see `WriteLock`).
urgent_writes: contextvars.ContextVar[bool] = contextvars.ContextVar("ampsm_urgent_writes", default=False)


class WriteLock:
    """The store's write lock: first come, first served like `asyncio.Lock`, except that a task
    marked with `urgent_writes` is served before every waiting task that is not.

    Why: in a pipelined batch an agent slot is taken, then the item's few writes (its claim, its
    iteration row) must land before its agent can start, while the other items' writes (worktrees
    being prepared, commits being recorded) queue by the dozen; in line behind them the slot would
    idle for a quarter of a second. A lock handed to a waiter that is cancelled before it runs is
    passed on, as `asyncio.Lock` does."""

    def __init__(self) -> None:
        self._locked = False
        self._handed: asyncio.Future[None] | None = None  # woken, not yet running: the lock is theirs
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._locked

    def _free(self) -> bool:
        """Nobody holds it, nobody was handed it, nobody waits (a cancelled waiter is leaving)."""
        return (
            not self._locked
            and self._handed is None
            and all(w.done() for w in self._urgent)
            and all(w.done() for w in self._normal)
        )

    async def acquire(self) -> bool:
        if self._free():
            self._locked = True
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent_writes.get() else self._normal
        queue.append(waiter)
        try:
            try:
                await waiter
            finally:
                queue.remove(waiter)
        except asyncio.CancelledError:
            if self._handed is waiter:  # handed the lock, then cancelled: the next waiter gets it
                self._handed = None
            self._wake()
            raise
        self._handed = None
        self._locked = True
        return True

    def release(self) -> None:
        if not self._locked:
            raise RuntimeError("the write lock is not held")
        self._locked = False
        self._wake()

    def _wake(self) -> None:
        if self._locked or self._handed is not None:
            return
        for queue in (self._urgent, self._normal):
            for waiter in queue:
                if not waiter.done():
                    waiter.set_result(None)
                    self._handed = waiter
                    return

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class StoreBase:
    """Owns one aiosqlite connection. Writes are serialised with a lock so that one task's
    transaction never swallows another task's statements on the shared connection."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 10000,
        journal_mode: str = "WAL",
        cache_size: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.journal_mode = journal_mode
        self.cache_size = cache_size
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = WriteLock()
        self._column_cache: dict[str, set[str]] = {}

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    async def open(self, *, migrate: bool = True) -> None:
        try:
            _ensure_private_file(self.path)
        except OSError as exc:  # a read-only or missing parent, a path under /proc: E003, not a traceback
            raise db_error(self.path, OSError(exc.strerror or str(exc))) from exc
        pending = aiosqlite.connect(self.path, isolation_level=None, timeout=self.busy_timeout_ms / 1000)
        try:
            conn = await pending
        except sqlite3.Error as exc:
            # aiosqlite stops its worker thread without waiting: wait here, or the thread reports
            # to a closed loop and prints a traceback at exit.
            thread = getattr(pending, "_thread", None)
            if thread is not None:
                await asyncio.to_thread(thread.join, 5)
            raise db_error(self.path, exc) from exc
        try:
            conn.row_factory = sqlite3.Row
            self._conn = conn
            await conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            await conn.execute(f"PRAGMA journal_mode = {self.journal_mode}")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA synchronous = NORMAL")
            if self.cache_size is not None:
                await conn.execute(f"PRAGMA cache_size = {int(self.cache_size)}")
            found = await self.schema_version()
            if found > LATEST:
                raise newer_schema_error(self.path, found)
            if migrate:
                await self._migrate()
        except sqlite3.Error as exc:
            await self.close()
            raise db_error(self.path, exc) from exc
        except BaseException:
            await self.close()
            raise
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                try:
                    os.chmod(side, 0o600)
                except OSError:
                    pass

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await conn.close()
            except Exception:
                pass

    async def __aenter__(self) -> StoreBase:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- migrations -------------------------------------------------------------------------

    async def schema_version(self) -> int:
        cur = await self.conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'")
        if await cur.fetchone() is None:
            return 0
        cur = await self.conn.execute("SELECT MAX(version) FROM schema_version")
        row = await cur.fetchone()
        return int(row[0] or 0) if row else 0

    async def _migrate(self, target: int | None = None) -> None:
        """All pending steps in one transaction: a failing step leaves the DB as it was."""
        if target is None:
            target = max(v for v, _, _ in MIGRATIONS)
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                await self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                cur = await self.conn.execute("SELECT version FROM schema_version")
                applied = {int(r[0]) for r in await cur.fetchall()}
                await cur.close()
                if applied and max(applied) > LATEST:  # re-checked under the write lock
                    raise newer_schema_error(self.path, max(applied))
                # every step not applied yet, not only those above the highest: steps numbered by
                # parallel branches may land out of order
                for version, description, sql in MIGRATIONS:
                    if version not in applied and version <= target:
                        for statement in _statements(sql):
                            await self.conn.execute(statement)
                        await self.conn.execute(
                            "INSERT INTO schema_version(version, description, applied_at) VALUES (?, ?, ?)",
                            (version, description, now_iso()),
                        )
                await self.conn.execute("COMMIT")
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
        self._column_cache.clear()

    async def migrate_to(self, target: int) -> None:
        """Apply migrations up to `target` only (tests build old-schema DBs with this)."""
        await self._migrate(target)

    # -- helpers ----------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT; any SQLite failure inside (a full disk, a locked file) leaves
        as E003 naming the file, never as a bare OperationalError."""
        async with self._write_lock:
            try:
                await self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise db_error(self.path, exc) from exc
            try:
                yield self.conn
            except BaseException as exc:
                try:
                    await self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # SQLite rolled back itself (a full disk does that)
                if isinstance(exc, sqlite3.Error):
                    raise db_error(self.path, exc) from exc
                raise
            try:
                await self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    await self.conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise db_error(self.path, exc) from exc

    async def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement, atomic on its own; returns lastrowid."""
        async with self._write_lock:
            try:
                cur = await self.conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise db_error(self.path, exc) from exc
            return int(cur.lastrowid or 0)

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        # One trip to the DB thread (execute, fetch all, statement done) instead of three: on a loaded
        # machine each trip waits for the scheduler, and the TUI's change path is made of these.
        try:
            return list(await self.conn.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise db_error(self.path, exc) from exc

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row, in one trip like `_fetchall` (callers ask by key, an aggregate or LIMIT 1).
        The statement ends inside that trip, never when a cancelled task's frame is collected: an
        unfinished statement holds a read transaction open, this connection would see an old
        snapshot and `PRAGMA data_version` would not move (the TUI would miss other commits)."""
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    @staticmethod
    def _model(model: type[M], row: sqlite3.Row | None) -> M | None:
        return model.model_validate(dict(row)) if row is not None else None

    @staticmethod
    def _models(model: type[M], rows: Iterable[sqlite3.Row]) -> list[M]:
        return [model.model_validate(dict(r)) for r in rows]

    async def _columns(self, table: str) -> set[str]:
        if table not in self._column_cache:
            rows = await self._fetchall(f"PRAGMA table_info({table})")
            self._column_cache[table] = {r["name"] for r in rows}
        return self._column_cache[table]

    async def _row(self, table: str, obj: BaseModel, *, exclude: set[str] | None = None) -> dict[str, Any]:
        """The model's values for the table's columns, free text scrubbed: every INSERT builds its
        row here."""
        cols = await self._columns(table)
        data = obj.model_dump(mode="json", exclude=exclude or set())
        return _scrubbed({k: v for k, v in data.items() if k in cols})

    async def _insert_model(self, table: str, obj: BaseModel, *, exclude: set[str] | None = None) -> int:
        data = await self._row(table, obj, exclude=exclude)
        names = ", ".join(data)
        marks = ", ".join("?" for _ in data)
        return await self._write(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(data.values()))

    async def _update(self, table: str, key: str, key_value: Any, fields: dict[str, Any]) -> None:
        if not fields:
            return
        cols = await self._columns(table)
        unknown = set(fields) - cols
        if unknown:
            raise ValueError(f"unknown columns for {table}: {sorted(unknown)}")
        fields = _scrubbed(fields)
        values = [v.value if hasattr(v, "value") else v for v in fields.values()]
        sets = ", ".join(f"{name} = ?" for name in fields)
        await self._write(f"UPDATE {table} SET {sets} WHERE {key} = ?", [*values, key_value])

    # -- health -----------------------------------------------------------------------------

    async def integrity_check(self) -> tuple[list[str], list[str]]:
        """(integrity_check, quick_check) messages; ['ok'] each when healthy."""
        integrity = [r[0] for r in await self._fetchall("PRAGMA integrity_check")]
        quick = [r[0] for r in await self._fetchall("PRAGMA quick_check")]
        return integrity, quick

    async def quick_only(self) -> tuple[list[str], list[str]]:
        return [], [r[0] for r in await self._fetchall("PRAGMA quick_check")]

    async def data_version(self) -> int:
        """Changes when another connection commits: a cheap poll for the TUI's live view."""
        row = await self._fetchone("PRAGMA data_version")
        return int(row[0]) if row else 0


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]
