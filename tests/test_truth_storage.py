"""Issue 14: leaks (5), a newer schema (6) and a full disk (8), through the real CLI and the real DB."""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from ampsm_tui.engine.store.migrations import LATEST
from tests.conftest import ROOT, run_cli

HOOK_TOKEN = "aBcDeFgHiJkLmNoPqRsTuVwX"
QUERY_SECRET = "q7s3cr3tv4lu3"


def rows(db: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


@pytest.fixture
def hook_server() -> Iterator[tuple[str, list[str]]]:
    """A local webhook receiver recording the paths it was POSTed to."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


# -- 5. secrets in URLs, in dry runs, across cuts; private exports -----------------------------------


def test_a_webhook_token_is_never_stored_or_printed_but_still_used(
    repo: Path, isolated_env: Path, hook_server: tuple[str, list[str]]
) -> None:
    base, seen = hook_server
    url = f"{base}/services/T0AB12CD3/B0AB12CD3/{HOOK_TOKEN}?token={QUERY_SECRET}&channel=dev"
    out = run_cli(
        "new", "--repo", str(repo), "--name", "hooked", "--prompt", "p", "--agent", "command",
        "--agent-cmd", "true", "--script", "false", "--notify-webhook", url, "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    sid = json.loads(out.stdout)["id"]
    outputs = [out.stdout]
    for args in (("list", "--json"), ("status", sid, "--json"), ("list",), ("status", sid)):
        res = run_cli(*args)
        assert res.returncode == 0, res.stderr
        outputs.append(res.stdout + res.stderr)
    backup = run_cli("db", "backup", "--json")
    assert backup.returncode == 0, backup.stderr
    res = run_cli("iterate", sid)  # the failing script: awaiting-input, which notifies
    assert res.returncode == 16, res.stderr
    outputs.append(res.stdout + res.stderr)
    files = [isolated_env / "sessions.db", *(isolated_env / "backups").glob("*.db")]
    assert len(files) >= 2
    for text in outputs:
        assert HOOK_TOKEN not in text and QUERY_SECRET not in text
    for f in files:
        data = f.read_bytes() + (Path(f"{f}-wal").read_bytes() if Path(f"{f}-wal").exists() else b"")
        assert HOOK_TOKEN.encode() not in data and QUERY_SECRET.encode() not in data
    stored = rows(isolated_env / "sessions.db", "SELECT notify_webhook FROM sessions")[0][0]
    assert "[REDACTED]" in stored and "channel=dev" in stored
    # ...and the real URL, kept privately, is the one called
    assert seen and seen[0] == f"/services/T0AB12CD3/B0AB12CD3/{HOOK_TOKEN}?token={QUERY_SECRET}&channel=dev"
    kept = isolated_env / "secrets"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in kept.iterdir())


def test_batch_dry_run_redacts_prompts_and_scripts(repo: Path, isolated_env: Path, tmp_path: Path) -> None:
    key = "sk-ant-api03-" + "Zq8" * 12
    batch = tmp_path / "b.yaml"
    batch.write_text(
        f"name: leaky\nrepos:\n  - path: {repo}\nitems:\n"
        f'  - name: one\n    prompt: "use {key} to call the API"\n    script: "curl -H \'x-api-key: {key}\' http://x"\n'
        f"    agent: command\n    agentCmd: 'true'\n"
    )
    for extra in ((), ("--json",)):
        out = run_cli("batch", "start", "--file", str(batch), "--dry-run", *extra)
        assert out.returncode == 0, out.stderr
        assert key not in out.stdout and key[20:] not in out.stdout
        assert "[REDACTED]" in out.stdout or extra == ()  # the table may fold; the JSON shows it


def test_a_key_straddling_the_test_log_cut_is_redacted_whole(repo: Path, isolated_env: Path, tmp_path: Path) -> None:
    key = "sk-proj-" + "Ab9" * 20
    # the kept tail is the last 256 KiB: put the cut in the middle of the key
    before = "x" * 100 + "\n"
    after_len = 256 * 1024 - 30
    script = tmp_path / "noisy.sh"
    script.write_text(
        f"#!/bin/sh\nprintf '%s' '{before}'\nprintf '%s' '{key}'\n"
        f"{sys.executable} -c \"import sys; sys.stdout.write('y ' * ({after_len} // 2))\"\nexit 3\n"
    )
    script.chmod(0o755)
    out = run_cli(
        "new", "--repo", str(repo), "--name", "cut", "--prompt", "p", "--agent", "command", "--agent-cmd", "true",
        "--script", str(script), "--run",
    )  # fmt: skip
    assert out.returncode == 16, out.stderr
    (log,) = rows(isolated_env / "sessions.db", "SELECT test_log FROM iterations")
    assert key[-25:] not in log[0] and key[-12:] not in log[0]
    assert key[-12:] not in out.stderr


def test_a_key_straddling_the_stream_line_cut_is_redacted_whole(repo: Path, isolated_env: Path, tmp_path: Path) -> None:
    key = "sk-ant-api03-" + "Qw7" * 20
    cut = 8 * 1024 * 1024
    gen = tmp_path / "gen.py"
    # wherever the reader's chunks make the cut fall (8 MiB + up to one read), it falls in a key
    gen.write_text(
        "import sys\n"
        f"head = 'word ' * (({cut} - 4096) // 5) + 'z' * 36 + ' '\n"  # 64 KiB-aligned reads: mid-key
        f"keys = ' '.join([{key!r}] * (200 * 1024 // {len(key) + 1}))\n"
        "sys.stdout.write(head + keys + ' tail' * 2000 + '\\n')\n"
    )
    out = run_cli(
        "new", "--repo", str(repo), "--name", "long line", "--prompt", "p", "--agent", "command",
        "--agent-cmd", f"{sys.executable} {gen}", "--run",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    streams = list((isolated_env / "streams").rglob("*.jsonl"))
    assert streams
    for f in streams:
        data = f.read_text()
        assert "[REDACTED]" in data
        assert "sk-ant" not in data and "Qw7Qw" not in data  # no whole key, and no piece of one


def test_exports_are_private_files_in_private_folders(repo: Path, isolated_env: Path, tmp_path: Path) -> None:
    out = run_cli(
        "new", "--repo", str(repo), "--name", "e", "--prompt", "p", "--agent", "command", "--agent-cmd", "true"
    )
    assert out.returncode == 0, out.stderr
    target = tmp_path / "fresh" / "nested" / "all.jsonl"
    res = run_cli("export", "--format", "jsonl", "--out", str(target))
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o700
    res = run_cli("export", "--format", "csv", "--out", str(tmp_path / "fresh" / "c.csv"))
    assert res.returncode == 0, res.stderr
    for f in (tmp_path / "fresh").glob("c.*.csv"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600


# -- 6. a newer schema is refused -------------------------------------------------------------------------


def _newer_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO schema_version(version, description, applied_at) VALUES (?, 'from the future', '2099-01-01')",
        (LATEST + 7,),
    )
    conn.commit()
    conn.close()


def test_a_newer_schema_is_refused_by_open_db_check_and_restore(isolated_env: Path, tmp_path: Path) -> None:
    assert run_cli("list").returncode == 0
    db = isolated_env / "sessions.db"
    future = tmp_path / "future.db"
    conn = sqlite3.connect(db)
    conn.execute("VACUUM INTO ?", (str(future),))
    conn.close()
    _newer_db(future)

    res = run_cli("db", "restore", str(future))
    assert res.returncode == 13, res.stdout + res.stderr
    assert "E003:" in res.stderr and str(LATEST + 7) in res.stderr and str(LATEST) in res.stderr
    assert max(r[0] for r in rows(db, "SELECT version FROM schema_version")) == LATEST  # nothing restored

    _newer_db(db)
    before = db.read_bytes()
    for args in (("list",), ("db", "check"), ("new", "--repo", str(tmp_path), "--name", "x")):
        res = run_cli(*args)
        assert res.returncode == 13, res.stdout + res.stderr
        assert "E003:" in res.stderr and f"schema version {LATEST + 7}" in res.stderr
        assert f"version {LATEST})" in res.stderr
        assert "internal error" not in res.stderr
    assert db.read_bytes() == before  # opened, refused, never written


# -- 8. a full disk under the DB ---------------------------------------------------------------------------


def _tmpfs(where: Path) -> bool:
    """A tiny real filesystem when we may mount one (root); else False."""
    if os.geteuid() != 0:
        return False
    where.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True)
    return res.returncode == 0


def test_a_full_disk_under_the_db_is_e003_naming_the_path(repo: Path, isolated_env: Path, tmp_path: Path) -> None:
    assert run_cli("list").returncode == 0
    prompt = "lorem ipsum dolor sit amet " * 3800  # ~100 KB: more than is left (and fits in argv)
    mnt = tmp_path / "small-disk"
    mounted = _tmpfs(mnt)
    try:
        if mounted:  # the real thing: ENOSPC from a full filesystem
            db = mnt / "sessions.db"
            db.write_bytes((isolated_env / "sessions.db").read_bytes())
            free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
            (mnt / "filler").write_bytes(b"\0" * max(free - 48 * 1024, 0))
            env = {"AMPSM_DB_PATH": str(db)}
            preexec = None
        else:  # the same SQLite write failure, from a file size limit (RLIMIT_FSIZE)
            db = isolated_env / "sessions.db"
            env = {}
            limit = db.stat().st_size + 48 * 1024

            def preexec() -> None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        res = subprocess.run(
            [sys.executable, "-m", "ampsm_tui", "new", "--repo", str(repo), "--name", "full", "--agent", "command",
             "--agent-cmd", "true", "--prompt", prompt],
            capture_output=True, text=True, env={**os.environ, **env}, cwd=ROOT, preexec_fn=preexec, timeout=120,
        )  # fmt: skip
        assert res.returncode == 13, res.stdout + res.stderr
        assert "E003:" in res.stderr and str(db) in res.stderr
        assert "internal error" not in res.stderr and "Traceback" not in res.stderr
        if mounted:
            assert "disk is full" in res.stderr
        # no orphaned worktree for the session that could not be recorded
        assert not (repo / ".worktrees").exists() or not list((repo / ".worktrees").glob("sess-*"))
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
