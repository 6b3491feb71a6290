"""Database backups: online copies while a writer commits, checked restores, interval and keep."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import run_cli

WRITER = r"""
import asyncio, sys
from pathlib import Path
from ampsm_tui.engine.config import load_config
from ampsm_tui.engine.models import Session
from ampsm_tui.engine.store import Store

async def main(progress, stop):
    store = Store.from_config(load_config())
    await store.open()
    i = 0
    with open(progress, "a") as fh:
        while not Path(stop).exists():
            s = await store.create_session(Session(name=f"row-{i}", prompt="x" * 500, repo_path="/r", base_branch="main"))
            fh.write(s.id + "\n")  # written only after the commit returned
            fh.flush()
            i += 1
    await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def ids(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT id, name FROM sessions"))
    finally:
        conn.close()


def committed(progress: Path) -> list[str]:
    return [line for line in progress.read_text().splitlines() if line.startswith("sess-")]


def test_backup_during_writes_restores_every_committed_row(tmp_path: Path, isolated_env: Path) -> None:
    assert run_cli("list").returncode == 0  # creates and migrates the DB
    progress, stop = tmp_path / "progress", tmp_path / "stop"
    progress.touch()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(progress), str(stop)], env=dict(os.environ))
    try:
        deadline = time.monotonic() + 60
        while len(committed(progress)) < 30 and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        before = set(committed(progress))
        out = run_cli("db", "backup", "--json")
        after = set(committed(progress))
        assert writer.poll() is None, "the writer must still be running during the backup"
    finally:
        stop.touch()
        writer.wait(60)
    assert out.returncode == 0, out.stderr
    backup = Path(json.loads(out.stdout)["path"])
    assert backup.parent == isolated_env / "backups" and oct(backup.stat().st_mode & 0o777) == "0o600"
    all_rows = ids(isolated_env / "sessions.db")
    assert len(all_rows) > len(after)  # the writer went on after the backup

    restored = run_cli("db", "restore", str(backup), "--json")
    assert restored.returncode == 0, restored.stderr
    info = json.loads(restored.stdout)
    assert ids(Path(info["kept_aside"])) == all_rows  # the current DB was kept aside, complete
    check = run_cli("db", "check", "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["ok"], check.stderr
    rows = ids(isolated_env / "sessions.db")
    assert before <= set(rows) <= after | before  # every row committed before the backup, nothing invented
    assert all(rows[i] == all_rows[i] for i in rows)  # rows are whole
    listed = run_cli("list", "--json")
    assert len(json.loads(listed.stdout)) == len(rows)


def test_restore_refuses_a_damaged_file_and_changes_nothing(tmp_path: Path, isolated_env: Path) -> None:
    assert run_cli("list").returncode == 0
    db = isolated_env / "sessions.db"
    conn = sqlite3.connect(db)
    before = list(conn.iterdump())
    conn.close()
    good = run_cli("db", "backup", "--out", str(tmp_path / "good.db"))
    assert good.returncode == 0, good.stderr
    damaged = tmp_path / "damaged.db"
    data = bytearray((tmp_path / "good.db").read_bytes())
    data[100:4096] = b"\x00" * (4096 - 100)  # wipe the schema page
    damaged.write_bytes(bytes(data))
    junk = tmp_path / "junk.db"
    junk.write_text("not a database at all " * 100)
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.commit()
    for bad in (damaged, junk, foreign, tmp_path / "missing.db"):
        out = run_cli("db", "restore", str(bad))
        assert out.returncode != 0 and out.stderr.startswith("E003"), (bad, out.stderr)
    conn = sqlite3.connect(db)
    assert list(conn.iterdump()) == before
    conn.close()
    assert not list(isolated_env.glob("sessions.db.before-restore-*"))


def _write_config(cfg: Path, interval: str, keep: int) -> None:
    (cfg / "config.yaml").write_text(f"database:\n  backup_interval: {interval}\n  backup_keep: {keep}\n")


def _age_backups(cfg: Path, seconds: float) -> None:
    for p in (cfg / "backups").glob("sessions-*.db"):
        t = p.stat().st_mtime - seconds
        os.utime(p, (t, t))


def test_backup_interval_and_keep(isolated_env: Path) -> None:
    _write_config(isolated_env, "1h", 2)
    backups = isolated_env / "backups"
    assert run_cli("list").returncode == 0  # no backup yet: the first open makes one
    first = sorted(backups.glob("sessions-*.db"))
    assert len(first) == 1
    assert run_cli("list").returncode == 0  # within the interval: nothing new
    assert sorted(backups.glob("sessions-*.db")) == first
    for expected in (2, 2):
        _age_backups(isolated_env, 7200)  # the newest is now older than 1h
        assert run_cli("list").returncode == 0
        assert len(list(backups.glob("sessions-*.db"))) == expected  # keep=2 prunes the oldest
    listed = run_cli("db", "backup", "--list", "--json")
    assert len(json.loads(listed.stdout)) == 2

    _write_config(isolated_env, "0", 2)  # 0 disables periodic backups
    _age_backups(isolated_env, 7200)
    names = sorted(p.name for p in backups.glob("sessions-*.db"))
    assert run_cli("list").returncode == 0
    assert sorted(p.name for p in backups.glob("sessions-*.db")) == names
