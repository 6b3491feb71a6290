"""`new` without --run writes its row and port block with plain sqlite3 after the engine's own
`create_worktree`: the same repository, row, ports and output as the full path on a twin repo and
database; whatever only the full path can answer (a setup script, included files, a config file, a
database to create or reconcile) goes there, leaving nothing behind."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from ampsm_tui.engine.config import load_config
from tests.conftest import git, run_cli
from tests.lean_paths import run_full as _full
from tests.lean_paths import run_lean as _fast

KEY = "sk-ant-api03-" + "k" * 40
ARGS = ["--name", "Feat X", "--prompt", f"add hello with {KEY}", "--script", "true", "--timeout", "30"]
AGENT = ["--agent", "command", "--agent-cmd", "echo hi"]


def _repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# demo\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(load_config().db_path)
    conn.row_factory = sqlite3.Row
    return conn


def _rows() -> list[dict[str, typing.Any]]:
    with _db() as conn:
        return [dict(r) for r in conn.execute("SELECT * FROM sessions ORDER BY created_at")]


def _ports(sid: str) -> tuple[int, int] | None:
    with _db() as conn:
        row = conn.execute("SELECT first_port, size FROM port_blocks WHERE session_id = ?", (sid,)).fetchone()
    return None if row is None else (row[0], row[1])


def _same(text: str, sid: str, repo: Path) -> str:
    """What differs by nature between twins: the id, the repo's path, the times."""
    text = text.replace(sid, "ID").replace(str(repo), "REPO")
    text = re.sub(r"[0-9]{8}-[0-9]{6}", "T", text)
    return re.sub(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z", "TIME", text)


def _repo_state(repo: Path, doc: dict[str, typing.Any]) -> dict[str, typing.Any]:
    wt, branch = Path(doc["worktree_path"]), doc["branch"]
    return {
        "worktree_head": git(wt, "rev-parse", "HEAD") == git(repo, "rev-parse", "main"),
        "on_branch": git(wt, "symbolic-ref", "--short", "HEAD") == branch,
        "clean": git(wt, "status", "--porcelain"),
        "config": _same(git(repo, "config", "--get-regexp", r"^branch\.amp/"), doc["id"], repo),
        "worktrees": len(git(repo, "worktree", "list", "--porcelain").split("\n\n")),
        "exclude": (repo / ".git" / "info" / "exclude").read_text().splitlines()[-1:],
        "upstream": git(repo, "config", "--default", "none", f"branch.{branch}.remote"),
    }


def _seed(tmp_path: Path) -> None:
    """A database the full path has created and migrated (the lean path never creates one)."""
    r0 = _repo(tmp_path / "r0")
    assert run_cli("new", "--repo", str(r0), "--name", "seed", *AGENT).returncode == 0


@pytest.mark.parametrize("as_json", [True, False])
def test_lean_new_is_the_full_new(tmp_path: Path, capsys: pytest.CaptureFixture[str], as_json: bool) -> None:
    _seed(tmp_path)
    r1, r2 = _repo(tmp_path / "r1"), _repo(tmp_path / "r2")
    flags = ["--json"] if as_json else []
    assert _fast(["new", "--repo", str(r1), *ARGS, *AGENT, *flags]) == 0
    lean_out = capsys.readouterr().out
    assert _full(["new", "--repo", str(r2), *ARGS, *AGENT, *flags]) == 0
    full_out = capsys.readouterr().out
    rows = _rows()
    one, two = rows[1], rows[2]
    assert _same(lean_out, one["id"], r1) == _same(full_out, two["id"], r2)
    assert _same(json.dumps(one), one["id"], r1) == _same(json.dumps(two), two["id"], r2)
    assert one["status"] == "idle" and one["timeout_s"] == 30.0 and one["name"] == "Feat X"
    assert KEY not in lean_out and KEY not in one["prompt"] and one["prompt"].startswith("add hello with ")
    if as_json:
        assert json.loads(lean_out) == one
    p1, p2 = _ports(one["id"]), _ports(two["id"])
    assert p1 is not None and p2 is not None and p1[1] == p2[1] == 4
    assert p2[0] == p1[0] + 4  # the next free block: the lean choice is the full path's
    assert _repo_state(r1, one) == _repo_state(r2, two)
    db = load_config().db_path
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert not path.exists() or path.stat().st_mode & 0o777 == 0o600, path


def test_the_checked_out_branch_is_the_base_without_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(tmp_path)
    repo = _repo(tmp_path / "r1")
    git(repo, "branch", "-m", "main", "trunk")
    assert _fast(["new", "--repo", str(repo), "--name", "t", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["base_branch"] == "trunk" and doc["agent"] == "amp"
    assert git(repo, "config", f"branch.{doc['branch']}.ampsmBase") == "trunk"


def _nothing_left(repo: Path, before: int) -> None:
    assert len(_rows()) == before
    assert git(repo, "branch", "--list", "amp/*") == ""
    assert git(repo, "for-each-ref", "refs/ampsm/") == ""  # nothing was there to archive
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    wts = repo / ".worktrees"
    assert not wts.exists() or not any(wts.iterdir())


def test_what_only_the_full_path_answers(tmp_path: Path, isolated_env: Path) -> None:
    repo = _repo(tmp_path / "r1")
    new = ["new", "--repo", str(repo), "--name", "x"]
    assert _fast(new) is None  # no database yet: the full path creates, migrates and chmods it
    _seed(tmp_path)
    for extra in (["--run"], ["--setup", "true"], ["--model", "high"], ["--prompt", "-"], ["--agents", "amp"]):
        assert _fast([*new, *extra]) is None, extra
    assert _fast([*new, "--notify-webhook", "https://example.com/h"]) is None
    assert _fast([*new, "--agent", "command"]) is None  # its usage error is the full path's
    assert _fast([*new, "--agent", "command", "--agent-cmd", "'open"]) is None
    assert _fast([*new, "--script", "AMP_API_KEY=sk-ant-api03-" + "x" * 40]) is None
    assert _fast(["new", "--repo", str(tmp_path / "nope"), "--name", "x"]) is None
    before = len(_rows())
    (repo / ".worktreeinclude").write_text(".env\n")
    assert _fast(new) is None
    (repo / ".worktreeinclude").unlink()
    setup = repo / ".ampsm" / "setup"
    setup.parent.mkdir()
    setup.write_text("#!/bin/sh\ntrue\n")
    setup.chmod(0o755)
    assert _fast(new) is None  # in the main checkout
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "setup")
    setup.unlink()
    assert _fast(new) is None  # only in the branch: the worktree made is undone
    _nothing_left(repo, before)
    (isolated_env / "config.yaml").write_text("git:\n  lock_timeout: 5\n")
    assert _fast(new) is None
    (isolated_env / "config.yaml").unlink()
    with _db() as conn:
        conn.execute("UPDATE sessions SET status = 'running'")  # start-up would reconcile it
    git(repo, "rm", "-q", "-r", ".ampsm")
    git(repo, "commit", "-q", "-m", "no setup")
    assert _fast(new) is None
    _nothing_left(repo, before)


def test_no_free_ports_leaves_nothing(tmp_path: Path) -> None:
    _seed(tmp_path)
    with _db() as conn:
        conn.execute("UPDATE port_blocks SET first_port = 41000, size = 1000")
    r1, r2 = _repo(tmp_path / "r1"), _repo(tmp_path / "r2")
    lean = run_cli("new", "--repo", str(r1), "--name", "x", *AGENT)
    full = run_cli("new", "--repo", str(r2), "--name", "x", *AGENT, env={"AMPSM_SQLITE_JOURNAL_MODE": "WAL"})
    assert lean.returncode == full.returncode != 0
    assert lean.stderr.startswith("E004: no free block of 4 ports") and lean.stderr == full.stderr
    _nothing_left(r1, 1)
    _nothing_left(r2, 1)


def test_new_stays_lean(tmp_path: Path) -> None:
    _seed(tmp_path)
    repo = _repo(tmp_path / "r1")
    code = (
        "import sys\n"
        "from ampsm_tui.cli import main\n"
        f"status = main(['new', '--repo', {str(repo)!r}, '--name', 'x', '--json'])\n"
        "heavy = ('argparse', 'asyncio', 'dataclasses', 'logging', 'pydantic', 'aiosqlite', 'rich', 'textual', 'yaml', 'importlib.metadata', 'typing', 'subprocess', 'threading', 'socket', 'json', 'importlib', 'pathlib', 're', 'enum', 'functools', 'collections', 'contextlib', 'signal', 'datetime', 'sqlite3', 'shlex', 'ahocorasick_rs')\n"
        "sys.stderr.write('LOADED ' + ' '.join(sorted(m for m in heavy if m in sys.modules)) + '\\n')\n"
        "raise SystemExit(status)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ})
    assert out.returncode == 0, out.stderr
    assert "LOADED \n" in out.stderr, out.stderr
    assert json.loads(out.stdout)["id"] == _rows()[-1]["id"]


def test_lean_writes_use_the_stores_settings(tmp_path: Path) -> None:
    """A lean write waits for the WAL, not for an fsync (as every store write), with foreign keys on."""
    from ampsm_tui.engine.store.quick import _write

    db = tmp_path / "x.db"
    sqlite3.connect(db).close()
    with _write(db, 1.0) as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
