"""`merge` runs `SessionService.merge`'s steps on the engine's own git layer without the engine:
the same repository afterwards, the same row, the same output and errors; whatever only the full
path can answer goes there."""

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


def _repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# demo\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def _new(repo: Path, name: str = "feat", *, files: dict[str, str] | None = None) -> tuple[str, Path]:
    out = run_cli("new", "--repo", str(repo), "--name", name, "--agent", "command", "--agent-cmd", "true", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    wt = Path(doc["worktree_path"])
    for path, text in (files or {"a.txt": "a\n", "b.txt": "b\n"}).items():
        (wt / path).write_text(text)
        git(wt, "add", "-A")
        git(wt, "commit", "-q", "-m", f"amp: {path}")
    return str(doc["id"]), wt


def _row(sid: str) -> dict[str, typing.Any]:
    with sqlite3.connect(load_config().db_path) as conn:
        conn.row_factory = sqlite3.Row
        row = dict(conn.execute("SELECT * FROM sessions WHERE id = ?", (sid,)).fetchone())
        row["ports"] = conn.execute("SELECT COUNT(*) FROM port_blocks WHERE session_id = ?", (sid,)).fetchone()[0]
    return row


def _state(repo: Path, sid: str, wt: Path) -> dict[str, typing.Any]:
    row = _row(sid)
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/ampsm/").replace(sid, "ID").splitlines()

    def named(text: str) -> str:  # branch names carry their creation time
        return re.sub(r"amp/feat/[0-9-]+", "BRANCH", text)

    return {
        "main_tree": git(repo, "rev-parse", "main^{tree}"),
        "main_tip": named(git(repo, "log", "-1", "--format=%s%n%P", "main")).count(" "),  # a merge has 2 parents
        "main_head": named(git(repo, "log", "-1", "--format=%s", "main")),
        "main_subjects": sorted(named(git(repo, "log", "--format=%s", "main")).splitlines()),  # same-second dates
        "branches": named(git(repo, "branch", "--format=%(refname:short)")).splitlines(),
        "worktree": wt.exists(),
        "refs": sorted(r.rsplit("/", 1)[0] if "/archive/" in r else r for r in refs),
        "status": row["status"],
        "ports": row["ports"],
    }


@pytest.mark.parametrize("extra", [[], ["--keep-worktree"], ["-m", "merge it"]])
def test_lean_merge_is_the_full_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str]) -> None:
    r1, r2 = _repo(tmp_path / "r1"), _repo(tmp_path / "r2")
    one, wt1 = _new(r1)
    two, wt2 = _new(r2)
    for r in (r1, r2):  # main moves on: a merge commit, made in main's own checkout
        (r / "main.txt").write_text("m\n")
        git(r, "add", "-A")
        git(r, "commit", "-q", "-m", "on main")
    for wt in (wt1, wt2):  # uncommitted work: kept under an archive ref on removal
        (wt / "loose.txt").write_text("wip\n")
    assert _fast(["merge", one, *extra]) == 0
    lean_out = capsys.readouterr().out
    assert _full(["merge", two, *extra]) == 0
    full_out = capsys.readouterr().out

    def same(out: str, sid: str, repo: Path) -> str:  # ids, stamps and the merge commit differ by nature
        out = out.replace(sid, "ID").replace(git(repo, "rev-parse", "main")[:10], "SHA")
        return re.sub(r"[0-9]{8}-[0-9]{6}", "T", out)

    assert same(lean_out, one, r1) == same(full_out, two, r2)
    assert lean_out.startswith("merge ok")
    s1, s2 = _state(r1, one, wt1), _state(r2, two, wt2)
    assert s1 == s2
    assert s1["status"] == "done" and s1["worktree"] == ("--keep-worktree" in extra)
    assert _row(one)["updated_at"] > _row(one)["created_at"]


def test_a_fast_forward_with_json(repo: Path) -> None:
    sid, wt = _new(repo)
    out = run_cli("merge", sid[:9], "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc == {"ok": True, "conflicts": [], "sha": git(repo, "rev-parse", "main"), "message": None}
    assert not wt.exists() and _row(sid)["status"] == "done"
    assert git(repo, "rev-parse", f"refs/ampsm/merged/{sid}/merge") == doc["sha"]
    db = load_config().db_path
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):  # the lean write keeps the DB private
        assert not path.exists() or path.stat().st_mode & 0o777 == 0o600, path


def test_conflicts_are_the_full_paths(tmp_path: Path) -> None:
    r1, r2 = _repo(tmp_path / "r1"), _repo(tmp_path / "r2")
    one, _ = _new(r1, files={"README.md": "session\n"})
    two, _ = _new(r2, files={"README.md": "session\n"})
    for r in (r1, r2):
        (r / "README.md").write_text("main\n")
        git(r, "commit", "-q", "-am", "main edits the same line")
    lean = run_cli("merge", one, "--json")
    full = run_cli("merge", two, "--json", env={"AMPSM_SQLITE_JOURNAL_MODE": "WAL"})  # a checked override
    assert lean.returncode == full.returncode != 0
    assert lean.stderr == full.stderr and "conflicts in README.md" in lean.stderr
    lean_doc, full_doc = json.loads(lean.stdout), json.loads(full.stdout)
    # the twin repos' commits differ in their sha when made across a second boundary (a loaded machine)
    assert (lean_doc.pop("sha", None) is None) == (full_doc.pop("sha", None) is None)
    assert lean_doc == full_doc
    assert _row(one)["status"] == _row(two)["status"] == "idle"


def test_what_only_the_full_path_answers(repo: Path, isolated_env: Path) -> None:
    sid, wt = _new(repo)
    teardown = wt / ".ampsm" / "teardown"
    teardown.parent.mkdir()
    teardown.write_text("#!/bin/sh\necho bye\n")
    teardown.chmod(0o755)
    assert _fast(["merge", sid]) is None  # the teardown gets the session's ports and env from the store
    teardown.chmod(0o644)
    (isolated_env / "config.yaml").write_text("git:\n  merge_mode: no-ff\n")
    assert _fast(["merge", sid]) is None
    (isolated_env / "config.yaml").unlink()
    with sqlite3.connect(load_config().db_path) as conn:
        conn.execute("UPDATE sessions SET status = 'archived' WHERE id = ?", (sid,))
    assert _fast(["merge", sid]) is None
    out = run_cli("merge", sid)
    assert out.returncode == 2 and f"session {sid} is archived" in out.stderr


def test_merge_stays_lean(repo: Path) -> None:
    sid, _wt = _new(repo)
    code = (
        "import sys\n"
        "from ampsm_tui.cli import main\n"
        f"status = main(['merge', {sid!r}])\n"
        "heavy = ('argparse', 'asyncio', 'dataclasses', 'logging', 'pydantic', 'aiosqlite', 'rich', 'textual', 'yaml', 'importlib.metadata', 'typing', 'subprocess', 'threading', 'socket', 'json', 'importlib', 'pathlib', 're', 'enum', 'functools', 'collections', 'contextlib', 'signal', 'datetime', 'sqlite3')\n"
        "sys.stderr.write('LOADED ' + ' '.join(sorted(m for m in heavy if m in sys.modules)) + '\\n')\n"
        "raise SystemExit(status)\n"
    )
    env = {**os.environ}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "LOADED \n" in out.stderr, out.stderr
