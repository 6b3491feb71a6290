from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ampsm_tui.engine.errors import AmpsmError
from ampsm_tui.engine.models import Iteration, Session, SessionStatus, ToolCall
from ampsm_tui.engine.store import LATEST, SessionNotFound, Store


async def _open(path: Path) -> Store:
    store = Store(path)
    await store.open()
    return store


async def test_new_db_is_private_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "db" / "sessions.db"
    store = await _open(path)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert await store.schema_version() == LATEST
        row = await store._fetchone("PRAGMA journal_mode")
        assert row is not None and row[0] == "wal"
        row = await store._fetchone("PRAGMA foreign_keys")
        assert row is not None and row[0] == 1
        wal = Path(str(path) + "-wal")
        if wal.exists():
            assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    finally:
        await store.close()


async def test_typed_roundtrip_and_prefix_lookup(tmp_path: Path) -> None:
    store = await _open(tmp_path / "s.db")
    try:
        s = await store.create_session(Session(id="sess-abc12345", name="n", repo_path="/r", base_branch="main"))
        await store.create_session(Session(id="sess-abd00000", name="m", repo_path="/r", base_branch="main"))
        assert (await store.resolve_session("abc")).id == s.id
        assert (await store.resolve_session("sess-abc12345")).name == "n"
        with pytest.raises(SessionNotFound, match="ambiguous"):
            await store.resolve_session("ab")
        with pytest.raises(SessionNotFound):
            await store.resolve_session("zzz")
        it = await store.create_iteration(Iteration(session_id=s.id, number=1, prompt="p", input_tokens=5))
        assert it.id is not None
        call = await store.add_tool_call(ToolCall(iteration_id=it.id, session_id=s.id, name="edit_file"))
        assert call.id is not None
        await store.finish_tool_call(call.id, duration_ms=12, ok=True)
        calls = await store.list_tool_calls(iteration_id=it.id)
        assert calls[0].ok is True and calls[0].duration_ms == 12
        await store.set_session_status(s.id, SessionStatus.AWAITING_INPUT)
        got = await store.get_session(s.id)
        assert got is not None and got.status is SessionStatus.AWAITING_INPUT
        assert got.created_at.endswith("Z") and "T" in got.created_at
        with pytest.raises(ValueError, match="unknown columns"):
            await store.update_session(s.id, **{"name = 'x' --": 1})
    finally:
        await store.close()


async def test_list_is_newest_first(tmp_path: Path) -> None:
    store = await _open(tmp_path / "s.db")
    try:
        for i in range(3):
            await store.create_session(
                Session(name=f"s{i}", repo_path="/r", base_branch="main", created_at=f"2026-01-0{i + 1}T00:00:00.000Z")
            )
        names = [s.name for s in await store.list_sessions(limit=2)]
        assert names == ["s2", "s1"]
    finally:
        await store.close()


async def test_second_process_reads_while_one_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = await _open(path)
    try:
        await store.create_session(Session(id="sess-committed", name="a", repo_path="/r", base_branch="main"))
        async with store.transaction() as conn:
            await conn.execute(
                "INSERT INTO sessions(id, name, repo_path, base_branch, created_at, updated_at)"
                " VALUES ('sess-pending', 'b', '/r', 'main', 'x', 'x')"
            )
            # While this write transaction is open, another process reads the committed state at once.
            code = (
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=0.5);"
                "print(','.join(r[0] for r in c.execute('SELECT id FROM sessions ORDER BY id')))"
            )
            out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            assert out.stdout.strip() == "sess-committed"
        assert {s.id for s in await store.list_sessions()} == {"sess-committed", "sess-pending"}
    finally:
        await store.close()


async def test_old_schema_is_migrated_and_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Store(path)
    await old.open(migrate=False)
    await old.migrate_to(1)
    assert await old.schema_version() == 1
    await old.conn.execute(
        "INSERT INTO sessions(id, name, repo_path, base_branch, created_at, updated_at)"
        " VALUES ('sess-old00001', 'kept', '/r', 'main', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')"
    )
    await old.conn.execute(
        "INSERT INTO iterations(session_id, number, started_at, input_tokens) VALUES ('sess-old00001', 1, 'x', 42)"
    )
    cols_v1 = await old._columns("sessions")
    assert "pid" not in cols_v1
    await old.close()

    store = await _open(path)
    try:
        assert await store.schema_version() == LATEST
        s = await store.get_session("sess-old00001")
        assert s is not None and s.name == "kept" and s.pid is None
        its = await store.list_iterations("sess-old00001")
        assert its[0].input_tokens == 42 and its[0].raw_lines == 0
        versions = [r[0] for r in await store._fetchall("SELECT version FROM schema_version ORDER BY version")]
        assert versions == list(range(1, LATEST + 1))
    finally:
        await store.close()


async def test_failed_migration_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ampsm_tui.engine.store import core

    path = tmp_path / "m.db"
    old = Store(path)
    await old.open(migrate=False)
    await old.migrate_to(1)
    await old.close()
    bad = [*core.MIGRATIONS, (99, "broken", "ALTER TABLE sessions ADD COLUMN x INTEGER; THIS IS NOT SQL")]
    monkeypatch.setattr(core, "MIGRATIONS", bad)
    store = Store(path)
    with pytest.raises(AmpsmError, match="unusable"):
        await store.open()
    await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 1
    assert "x" not in {r[1] for r in conn.execute("PRAGMA table_info(sessions)")}
    conn.close()
