"""`squash -m` runs the engine's own git squash without the engine (no models, no store, no
aiosqlite): same commits, same output, same errors; whatever only the full path can answer goes
there."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ampsm_tui.cli import main
from ampsm_tui.engine.config import load_config
from tests.conftest import git, run_cli
from tests.lean_paths import run_full as _full
from tests.lean_paths import run_lean as _fast


def _new(repo: Path, name: str) -> tuple[str, Path]:
    out = run_cli("new", "--repo", str(repo), "--name", name, "--agent", "command", "--agent-cmd", "true", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    wt = Path(doc["worktree_path"])
    for n in range(3):
        (wt / f"f{n}.txt").write_text(f"{n}\n")
        git(wt, "add", "-A")
        git(wt, "commit", "-q", "-m", f"amp: step {n}")
    return str(doc["id"]), wt


def _shape(wt: Path) -> list[str]:
    """The branch's commits above main: message, tree and whether the parent is main's tip."""
    main_tip = git(wt, "rev-parse", "main")
    log = git(wt, "log", "--format=%B%x1f%T%x1f%P%x1e", "main..HEAD").strip("\x1e\n")
    return [
        "|".join([m.strip(), t, "main" if p == main_tip else p])
        for m, t, p in (c.strip("\n").split("\x1f") for c in log.split("\x1e"))
    ]


def test_lean_squash_is_the_full_squash(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one, wt1 = _new(repo, "one")
    two, wt2 = _new(repo, "two")
    assert _fast(["squash", one, "-m", "feat: both"]) == 0
    lean_out = capsys.readouterr().out
    assert _full(["squash", two, "-m", "feat: both"]) == 0
    full_out = capsys.readouterr().out
    assert _shape(wt1) == _shape(wt2) and len(_shape(wt1)) == 1
    assert lean_out == f"squashed: {git(wt1, 'rev-parse', 'HEAD')[:10]}\n"
    assert full_out == f"squashed: {git(wt2, 'rev-parse', 'HEAD')[:10]}\n"
    # --json and a prefix of the id, through the real CLI
    (wt1 / "g.txt").write_text("g\n")
    git(wt1, "add", "-A")
    git(wt1, "commit", "-q", "-m", "amp: more")
    out = run_cli("squash", one.removeprefix("sess-")[:6], "-m", "feat: again", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"sha": git(wt1, "rev-parse", "HEAD")}


def test_errors_are_the_full_paths(repo: Path) -> None:
    """A branch holding a merge commit: E001 from the same git layer, the same line and status."""
    one, wt1 = _new(repo, "one")
    two, wt2 = _new(repo, "two")
    for i, wt in enumerate((wt1, wt2)):
        git(wt, "checkout", "-q", "-b", f"side{i}", "HEAD~1")
        (wt / "side.txt").write_text("s\n")
        git(wt, "add", "-A")
        git(wt, "commit", "-q", "-m", "side")
        git(wt, "checkout", "-q", "-")
        git(wt, "merge", "-q", "--no-edit", "-")
    lean = run_cli("squash", one, "-m", "feat: x", "--json")
    env_full = {"AMPSM_SQLITE_JOURNAL_MODE": "WAL"}  # a checked override: the full path
    full = run_cli("squash", two, "-m", "feat: x", "--json", env=env_full)
    assert lean.returncode == full.returncode == 11
    assert lean.stderr.replace(one, "ID") == full.stderr.replace(two, "ID")
    assert "merge commits" in lean.stderr
    assert json.loads(lean.stdout)["code"] == json.loads(full.stdout)["code"] == "E001"


def test_what_only_the_full_path_answers(repo: Path, isolated_env: Path) -> None:
    sid, wt = _new(repo, "one")
    db = load_config().db_path
    assert _fast(["squash", sid]) is None  # the message is written from the iterations
    assert _fast(["squash", sid, "-m", "  "]) is None  # the full path says a message is needed
    assert _fast(["squash", "sess-nope", "-m", "x"]) is None  # "no such session", exit 2
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sessions SET status = 'done' WHERE id = ?", (sid,))
    assert _fast(["squash", sid, "-m", "x"]) is None
    done = run_cli("squash", sid, "-m", "x")
    assert done.returncode == 2 and f"session {sid} is done" in done.stderr
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sessions SET status = 'running' WHERE id = ?", (sid,))
    assert _fast(["squash", sid, "-m", "x"]) is None  # reconciled first by the full path
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sessions SET status = 'idle' WHERE id = ?", (sid,))
    (isolated_env / "config.yaml").write_text("git:\n  commit_prefix: 'wip:'\n")
    assert _fast(["squash", sid, "-m", "x"]) is None  # the config's own prefix, through the models
    (isolated_env / "config.yaml").unlink()
    moved = wt.with_name("moved")
    wt.rename(moved)
    assert _fast(["squash", sid, "-m", "x"]) is None
    gone = run_cli("squash", sid, "-m", "x")
    assert gone.returncode != 0 and gone.stderr.startswith("E004:")
    moved.rename(wt)
    assert main(["squash", sid, "-m", "feat: x"]) == 0


def test_squash_stays_lean(repo: Path) -> None:
    sid, _wt = _new(repo, "one")
    code = (
        "import sys\n"
        "from ampsm_tui.cli import main\n"
        f"status = main(['squash', {sid!r}, '-m', 'feat: x'])\n"
        "heavy = ('argparse', 'asyncio', 'dataclasses', 'logging', 'pydantic', 'aiosqlite', 'rich', 'textual', 'yaml', 'importlib.metadata', 'typing', 'subprocess', 'threading', 'socket', 'json', 'importlib', 'pathlib', 're', 'enum', 'functools', 'collections', 'contextlib', 'signal', 'datetime', 'sqlite3')\n"
        "sys.stderr.write('LOADED ' + ' '.join(sorted(m for m in heavy if m in sys.modules)) + '\\n')\n"
        "raise SystemExit(status)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "LOADED \n" in out.stderr, out.stderr
