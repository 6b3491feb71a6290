from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def _make_db() -> None:
    out = run_cli("db", "check")  # no DB yet: E003 with a clear message
    assert out.returncode != 0 and out.stderr.startswith("E003:")
    assert run_cli("doctor", "--json").returncode in (0, 1)  # doctor creates and migrates the DB


def test_healthy_db_passes(isolated_env: Path) -> None:
    _make_db()
    out = run_cli("db", "check", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True and data["integrity_check"] == ["ok"] and data["schema_version"] >= 2


def test_corrupted_db_gives_e003_not_traceback(isolated_env: Path) -> None:
    _make_db()
    db = isolated_env / "sessions.db"
    data = bytearray(db.read_bytes())
    assert len(data) >= 4096
    # Overwrite the middle of the file, including the second page's header, with junk.
    for i in range(100, min(len(data), 12000)):
        data[i] = (i * 7 + 3) % 256
    db.write_bytes(bytes(data))
    out = run_cli("db", "check")
    assert out.returncode == 13, (out.returncode, out.stdout, out.stderr)
    assert out.stderr.startswith("E003:")
    assert "Traceback" not in out.stderr


def test_garbage_file_gives_e003(isolated_env: Path) -> None:
    (isolated_env / "sessions.db").write_bytes(b"this is not a database" * 300)
    out = run_cli("db", "check")
    assert out.returncode == 13
    assert out.stderr.startswith("E003:") and "Traceback" not in out.stderr
