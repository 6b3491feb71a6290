"""The sessions table on plain sqlite3 (no aiosqlite, no pydantic, no asyncio) for the lean
command paths: `list --json`, and the session lookup and final write of `squash -m` and `merge`.

Why: these are what scripts and status bars call in a loop, and the async store with its models
costs several times the work itself. Rows come out in exactly the form
`Session.model_dump(mode="json")` gives them; whenever that cannot be guaranteed without the model
(a database that is missing, not fully migrated or newer, a session marked running that start-up
would reconcile, a value the model would coerce or reject) the answer is None and the caller takes
the full path, so the model stays the single authority on what a valid row is.
"""

from __future__ import annotations

import math
import os

from .migrations import MIGRATIONS

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    import sqlite3
    import sqlite3 as _sqlite3
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")
    StrPath = str | os.PathLike[str]


def _import_sqlite() -> Any:
    """`_sqlite3`, the C module under `sqlite3`.

    `sqlite3` is `_sqlite3` (connect, Row, the errors) plus the date adapters and converters its
    `dbapi2` registers, which need `datetime` and `collections`: this module binds and reads only
    text and numbers, and never asks for `detect_types`. And `_sqlite3` itself takes
    `functools.lru_cache` when it is first imported (3.11: each connection's statement cache), and
    `functools` imports `collections` (for the named tuple of `cache_info()`), `keyword`,
    `operator`, `reprlib`...: 4 ms of each lean command. When nothing has imported `functools` yet,
    `_sqlite3` is given, for its import only, a `functools` whose `lru_cache` is functools' own
    cache (`_functools._lru_cache_wrapper`, the C code `functools.lru_cache` wraps) with a plain
    tuple for `cache_info()`, which `_sqlite3` never calls; `functools` is then imported as usual by
    whoever needs it. Only on a single thread: another could import `functools` meanwhile."""
    import sys

    if "_sqlite3" in sys.modules or "functools" in sys.modules or "threading" in sys.modules:
        import _sqlite3

        return _sqlite3
    import _functools

    def lru_cache(maxsize: int | None = 128, typed: bool = False) -> Any:
        if isinstance(maxsize, int) and maxsize < 0:
            maxsize = 0
        return lambda function: _functools._lru_cache_wrapper(function, maxsize, typed, tuple)

    stand_in = type(sys)("functools")
    stand_in.lru_cache = lru_cache  # type: ignore[attr-defined]
    sys.modules["functools"] = stand_in
    try:
        import _sqlite3
    except Exception:  # another Python's _sqlite3 wants more of functools: the plain import then
        sys.modules.pop("_sqlite3", None)
        if sys.modules.get("functools") is stand_in:
            del sys.modules["functools"]
        import _sqlite3
    finally:
        if sys.modules.get("functools") is stand_in:
            del sys.modules["functools"]
    return _sqlite3


if not TYPE_CHECKING:
    _sqlite3 = _import_sqlite()

#: The Session model's fields in order, with the kind of value each holds. A test checks this
#: against `Session.model_fields` so that a field added there cannot be forgotten here.
SESSION_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "str"),
    ("name", "str"),
    ("prompt", "str"),
    ("repo_path", "str"),
    ("base_branch", "str"),
    ("branch", "str"),
    ("worktree_path", "str"),
    ("agent", "str"),
    ("agent_cmd", "str?"),
    ("model", "str?"),
    ("script", "str?"),
    ("timeout_s", "float?"),
    ("status", "status"),
    ("thread_id", "str?"),
    ("last_test_exit", "int?"),
    ("last_error", "str?"),
    ("notify_webhook", "str?"),
    ("batch_item_id", "str?"),
    ("pid", "int?"),
    ("pid_started_at", "float?"),
    ("agent_pid", "int?"),
    ("agent_started_at", "float?"),
    ("setup", "str?"),
    ("created_at", "str"),
    ("updated_at", "str"),
)

#: SessionStatus values (checked against the enum by the same test).
STATUSES = frozenset({"idle", "running", "awaiting-input", "error", "done", "interrupted", "archived"})


class Unsure(Exception):
    """The lean read cannot promise the model's answer: take the full path."""


def _value(kind: str, value: Any) -> Any:
    """The value as the model would dump it in JSON mode, or Unsure where the model would coerce
    in a way not reproduced here, or reject."""
    if value is None:
        if kind.endswith("?"):
            return None
        raise Unsure
    if kind in ("str", "str?"):
        if type(value) is str:
            return value
    elif kind == "status":
        if type(value) is str and value in STATUSES:
            return value
    elif kind == "int?":
        if type(value) is int:
            return value
    elif kind == "float?" and type(value) is float and math.isfinite(value):  # REAL: never an int
        return value
    raise Unsure


def _read(db: StrPath, timeout_s: float, query: Callable[[sqlite3.Connection], T]) -> T | None:
    """`query` in one read transaction on a database the full path would open as it is: fully
    migrated, no session marked running (start-up would reconcile it first). None otherwise, and
    on any SQLite error (the full path reports it with its code)."""
    if not os.path.isfile(db):
        return None  # the full path creates, migrates and chmods it
    try:
        conn = _sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=timeout_s, isolation_level=None)
    except _sqlite3.Error:
        return None
    try:
        conn.execute("BEGIN")  # the schema, the reconcile check and the rows from one snapshot
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone():
            return None
        applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_version")}
        if applied != {v for v, _, _ in MIGRATIONS}:
            return None  # pending migrations, or a newer ampsm's database: the full path says which
        if conn.execute("SELECT 1 FROM sessions WHERE status = 'running' LIMIT 1").fetchone():
            return None
        return query(conn)
    except (_sqlite3.Error, Unsure):
        return None
    finally:
        conn.close()


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    """The cursor's session rows as the model dumps them (Unsure when it would not do so plainly)."""
    columns = [d[0] for d in cur.description]
    index = {name: columns.index(name) for name, _ in SESSION_FIELDS if name in columns}
    if len(index) != len(SESSION_FIELDS):
        raise Unsure
    pairs = [(name, kind, index[name]) for name, kind in SESSION_FIELDS]
    return [{name: _value(kind, row[i]) for name, kind, i in pairs} for row in cur.fetchall()]


def list_session_dicts(
    db: StrPath, *, status: str | None = None, limit: int | None = None, timeout_s: float = 10.0
) -> list[dict[str, Any]] | None:
    """Sessions newest first as JSON-ready dicts (the same query as `Store.list_sessions`), or None
    when only the full path can answer."""

    def query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        sql = "SELECT * FROM sessions"
        params: list[Any] = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return _dicts(conn.execute(sql, params))

    return _read(db, timeout_s, query)


def resolve_session_dict(db: StrPath, ref: str, *, timeout_s: float = 10.0) -> dict[str, Any] | None:
    """The one session `ref` names (an id or a unique prefix, as `Store.resolve_session`), or None:
    no such session, an ambiguous prefix (the full path says which), or a database only the full
    path can open."""

    def query(conn: sqlite3.Connection) -> dict[str, Any] | None:
        exact = _dicts(conn.execute("SELECT * FROM sessions WHERE id = ?", (ref,)))
        if exact:
            return exact[0]
        for prefix in [ref] if ref.startswith("sess-") else [ref, f"sess-{ref}"]:
            like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = _dicts(
                conn.execute(
                    "SELECT * FROM sessions WHERE id LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT 3", (like,)
                )
            )
            if rows:
                return rows[0] if len(rows) == 1 else None
        return None

    return _read(db, timeout_s, query)


class _write:
    """One write transaction (`BEGIN IMMEDIATE` ... `COMMIT`), rolled back on any error, on a
    connection with the store's own settings (store/core.py): a commit waits for the WAL write, not
    for an fsync of it (`synchronous = NORMAL`, as every other write of ampsm's; SQLite's default
    FULL cost the lean `new` a disk flush), and foreign keys checked. An SQLite error is E003
    naming the file. (A class, not `contextlib.contextmanager`: contextlib's import was 3 ms of
    every lean command.)"""

    __slots__ = ("conn", "db", "timeout_s")

    def __init__(self, db: StrPath, timeout_s: float) -> None:
        self.db = db
        self.timeout_s = timeout_s
        self.conn: sqlite3.Connection | None = None

    def _unusable(self, exc: BaseException) -> Exception:
        from ..errors import AmpsmError, ErrorCode

        return AmpsmError(ErrorCode.DATABASE, f"database {self.db} is unusable: {str(exc).strip()}")

    def __enter__(self) -> sqlite3.Connection:
        try:
            conn = _sqlite3.connect(f"file:{self.db}?mode=rw", uri=True, timeout=self.timeout_s, isolation_level=None)
        except _sqlite3.Error as exc:
            raise self._unusable(exc) from exc
        try:
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            conn.close()
            if isinstance(exc, _sqlite3.Error):
                raise self._unusable(exc) from exc
            raise
        self.conn = conn
        return conn

    def __exit__(self, typ: object, exc: BaseException | None, tb: object) -> None:
        conn, self.conn = self.conn, None
        assert conn is not None
        try:
            try:
                if exc is None:
                    conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite has rolled back itself after SQLITE_FULL and the like
                    conn.execute("ROLLBACK")
                raise
            else:
                if exc is not None and conn.in_transaction:
                    conn.execute("ROLLBACK")
            finally:
                conn.close()
        except _sqlite3.Error as error:
            raise self._unusable(error) from error
        if isinstance(exc, _sqlite3.Error):
            raise self._unusable(exc) from exc


def mark_merged(db: StrPath, session_id: str, *, release_ports: bool, timeout_s: float = 10.0) -> None:
    """What a merge writes after its git work, as the full path does (`release_ports` when the
    worktree was removed, then the `done` status with a fresh `updated_at`), in one transaction. A
    failure is E003 naming the file."""
    from ..clock import now_iso

    with _write(db, timeout_s) as conn:
        if release_ports:
            conn.execute("DELETE FROM port_blocks WHERE session_id = ?", (session_id,))
        conn.execute("UPDATE sessions SET status = ?, updated_at = ? WHERE id = ?", ("done", now_iso(), session_id))


def ready(db: StrPath, *, timeout_s: float = 10.0) -> bool:
    """Whether the full path would open this database as it is (see `_read`): the lean `new` checks
    it before any git work, so that declining leaves nothing to undo."""
    return _read(db, timeout_s, lambda conn: True) is True


class NoFreePorts(Exception):
    """The port pool has no free block: nothing was written."""


def insert_session(
    db: StrPath,
    row: dict[str, Any],
    *,
    ports: tuple[int, int, int] | None,
    timeout_s: float = 10.0,
    probe: Callable[[int], bool] | None = None,
) -> tuple[int, int] | None:
    """The new session's row and its port block (`ports` = low, high, size; None: no block) in one
    transaction, so that no row is ever left without its block. Returns the block. Unsure (nothing
    written) when the database is no longer one the full path would use as it is; NoFreePorts
    (nothing written) when the pool is exhausted; E003 naming the file on an SQLite error."""
    from .portpool import FINISHED_STATUSES, choose_block, port_is_free

    names = [name for name, _ in SESSION_FIELDS]
    if list(row) != names:
        raise Unsure
    with _write(db, timeout_s) as conn:
        applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_version")}
        if applied != {v for v, _, _ in MIGRATIONS}:
            raise Unsure
        if conn.execute("SELECT 1 FROM sessions WHERE status = 'running' LIMIT 1").fetchone():
            raise Unsure  # start-up would reconcile it first
        conn.execute(
            f"INSERT INTO sessions ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            [row[name] for name in names],
        )
        block: tuple[int, int] | None = None
        if ports is not None:
            low, high, size = ports
            marks = ", ".join("?" for _ in FINISHED_STATUSES)
            conn.execute(
                f"DELETE FROM port_blocks WHERE session_id IN (SELECT id FROM sessions WHERE status IN ({marks}))",
                FINISHED_STATUSES,
            )
            taken = [(int(a), int(b)) for a, b in conn.execute("SELECT first_port, size FROM port_blocks")]
            first = choose_block(taken, low, high, size, probe or port_is_free)
            if first is None:
                raise NoFreePorts
            conn.execute(
                "INSERT INTO port_blocks (session_id, first_port, size, allocated_at) VALUES (?, ?, ?, ?)",
                (row["id"], first, size, row["created_at"]),
            )
            block = (first, size)
    return block
