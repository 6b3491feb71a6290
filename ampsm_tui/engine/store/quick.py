"""A synchronous read of the sessions table for `list --json`: plain sqlite3, no aiosqlite, no
pydantic, no asyncio.

Why: `list --json` is what scripts and status bars call in a loop, and the async store with its
models costs several times the query itself. The rows come out in exactly the form
`Session.model_dump(mode="json")` gives them; whenever that cannot be guaranteed without the model
(a database that is missing, not fully migrated or newer, a session marked running that start-up
would reconcile, a value the model would coerce or reject) the answer is None and the caller takes
the full path, so the model stays the single authority on what a valid row is.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

from .migrations import MIGRATIONS

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


def list_session_dicts(
    db: Path, *, status: str | None = None, limit: int | None = None, timeout_s: float = 10.0
) -> list[dict[str, Any]] | None:
    """Sessions newest first as JSON-ready dicts (the same query as `Store.list_sessions`), or None
    when only the full path can answer."""
    if not db.is_file():
        return None  # the full path creates, migrates and chmods it
    try:
        conn = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=timeout_s, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        # One read transaction: the schema, the reconcile check and the rows from one snapshot.
        conn.execute("BEGIN")
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone():
            return None
        applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_version")}
        if applied != {v for v, _, _ in MIGRATIONS}:
            return None  # pending migrations, or a newer ampsm's database: the full path says which
        if conn.execute("SELECT 1 FROM sessions WHERE status = 'running' LIMIT 1").fetchone():
            return None  # start-up reconciles sessions whose process died
        sql = "SELECT * FROM sessions"
        params: list[Any] = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY created_at DESC, rowid DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        cur = conn.execute(sql, params)
        columns = [d[0] for d in cur.description]
        index = {name: columns.index(name) for name, _ in SESSION_FIELDS if name in columns}
        if len(index) != len(SESSION_FIELDS):
            return None
        pairs = [(name, kind, index[name]) for name, kind in SESSION_FIELDS]
        try:
            return [{name: _value(kind, row[i]) for name, kind, i in pairs} for row in cur.fetchall()]
        except Unsure:
            return None
    except sqlite3.Error:
        return None  # a locked or damaged file: the full path reports it with its code
    finally:
        conn.close()
