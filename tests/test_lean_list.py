"""`list --json`'s lean path (plain sqlite3, no engine, no models) prints exactly what the full
path prints, declines whatever only the full path can answer, and stays lean."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from ampsm_tui.cli import main
from ampsm_tui.commands import session_lean
from ampsm_tui.engine import overlap
from ampsm_tui.engine.config import Config, load_config
from ampsm_tui.engine.models import Session, SessionStatus
from ampsm_tui.engine.paths import lean_config
from ampsm_tui.engine.store import Store
from ampsm_tui.engine.store.quick import SESSION_FIELDS, STATUSES, list_session_dicts
from tests.lean_paths import run_full, run_lean

WEBHOOK_KEY = "sk-ant-api03-" + "x" * 40


async def _seed(repo: Path) -> list[str]:
    """One session per status except running, with every optional field set on some of them."""
    store = Store.from_config(load_config())
    await store.open()
    ids = []
    try:
        statuses = [s for s in SessionStatus if s != SessionStatus.RUNNING]
        for n, status in enumerate(statuses):
            s = Session(
                name=f's{n} – ünïcode "quoted"',
                prompt=f"do thing {n}\nsecond line",
                repo_path=str(repo),
                base_branch="main",
                branch=f"amp/s{n}/x",
                worktree_path=str(repo / ".worktrees" / f"gone-{n}"),  # not on disk: not live
                agent="command" if n % 2 else "amp",
                agent_cmd="true" if n % 2 else None,
                model="high" if n % 3 == 0 else None,
                script="make test" if n == 1 else None,
                timeout_s=30 if n == 2 else (12.5 if n == 3 else None),
                status=status,
                thread_id="T-abc" if n == 4 else None,
                last_test_exit=1 if n == 5 else None,
                last_error="boom" if status == SessionStatus.ERROR else None,
                batch_item_id="item-1" if n == 0 else None,
                pid=4242 if n == 1 else None,
                pid_started_at=1733100000.25 if n == 1 else None,
                agent_pid=4343 if n == 2 else None,
                agent_started_at=1733100001.0 if n == 2 else None,
                setup="./setup.sh" if n == 3 else None,
            )
            s = await store.create_session(s)
            ids.append(s.id)
        # a row from before webhook URLs were redacted on the way in, and an integral REAL stored
        await store.conn.execute(
            "UPDATE sessions SET notify_webhook = ?, timeout_s = 30 WHERE id = ?",
            (f"https://hooks.example.com/x?token={WEBHOOK_KEY}", ids[0]),
        )
    finally:
        await store.close()
    return ids


def _full(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run_full(argv) == 0
    return capsys.readouterr().out


def _fast(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str | None:
    status = run_lean(argv)
    out = capsys.readouterr().out
    if status is None:
        assert out == ""  # declining writes nothing
        return None
    assert status == 0
    return out


@pytest.fixture
def seeded(repo: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", WEBHOOK_KEY)  # so that redact knows the value
    return asyncio.run(_seed(repo))


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--json"],
        ["list", "--json", "--limit", "3"],
        ["list", "--json", "--status", "error"],
        ["list", "--json", "--status", "running"],
        ["list", "--json", "--limit", "1"],
    ],
)
def test_lean_output_is_the_full_paths(seeded: list[str], argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    fast = _fast(argv, capsys)
    assert fast is not None, "the lean path declined a DB it should answer"
    full = _full(argv, capsys)
    assert fast == full  # byte for byte: key order, float forms, redaction, overlaps
    if argv == ["list", "--json"]:
        doc = json.loads(fast)
        assert {d["status"] for d in doc} == STATUSES - {"running"}
        assert WEBHOOK_KEY not in fast and "hooks.example.com" in fast
        assert any(d["timeout_s"] == 30.0 for d in doc) and '"timeout_s": 30.0' in fast


def test_model_and_lean_fields_agree() -> None:
    kinds = {str: "str", str | None: "str?", float | None: "float?", int | None: "int?", SessionStatus: "status"}
    hints = typing.get_type_hints(Session)
    assert [(name, kinds[hints[name]]) for name in Session.model_fields] == list(SESSION_FIELDS)
    assert {s.value for s in SessionStatus} == STATUSES
    assert session_lean.OVERLAP_PER_REPO == overlap.PER_REPO
    cfg, lean = load_config(), lean_config()
    assert lean is not None and lean == (
        str(cfg.db_path),
        Config().database.busy_timeout_ms / 1000,
        str(cfg.log_path),
        cfg.log_level,
        Config().git.commit_prefix,
        Config().git.squash_manual,
        Config().git.lock_timeout,
        Config().git.merge_mode,
        Config().git.remove_worktree_after_merge,
        Config().git.default_base_branch,
        Config().git.worktree_dir,
        Config().workspace.include_file,
        Config().workspace.port_range,
        Config().workspace.ports_per_session,
    )
    assert Config().workspace.setup is None  # the lean new looks for .ampsm/setup only
    assert Config().workspace.teardown is None  # the lean merge looks for .ampsm/teardown only


def test_lean_path_declines_what_only_the_full_path_can_answer(
    seeded: list[str], repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = load_config().db_path
    # one live session alone in its repo overlaps no one: answered, as the full path answers
    (repo / ".worktrees" / "gone-0").mkdir(parents=True)
    assert _fast(["list", "--json"], capsys) == _full(["list", "--json"], capsys)
    # two live sessions of one repo: overlaps need git
    (repo / ".worktrees" / "gone-1").mkdir()
    assert _fast(["list", "--json"], capsys) is None
    assert _fast(["list", "--json", "--status", "error"], capsys) is not None  # one live one is filtered out
    for n in (0, 1):
        (repo / ".worktrees" / f"gone-{n}").rmdir()
    # --repo is resolved by git
    assert _fast(["list", "--json", "--repo", str(repo)], capsys) is None
    # a value the model would reject (the full path fails loudly on it)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sessions SET status = 'bogus' WHERE id = ?", (seeded[0],))
    assert list_session_dicts(db) is None
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sessions SET status = 'idle', pid = 'x' WHERE id = ?", (seeded[0],))
    assert list_session_dicts(db) is None
    # a session marked running: start-up reconciles it first
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sessions SET status = 'running', pid = NULL WHERE id = ?", (seeded[0],))
    assert list_session_dicts(db) is None
    assert _full(["list", "--json", "--status", "interrupted"], capsys).count(seeded[0]) == 1  # reconciled
    assert list_session_dicts(db) is not None
    # pending migrations
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM schema_version WHERE version = (SELECT MAX(version) FROM schema_version)")
    assert list_session_dicts(db) is None
    # no database yet: the full path creates it
    assert list_session_dicts(db.parent / "nope.db") is None
    assert not (db.parent / "nope.db").exists()


def test_config_file_and_checked_env_go_through_the_models(
    seeded: list[str], isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AMPSM_SQLITE_JOURNAL_MODE", "bogus")
    assert lean_config() is None
    assert main(["list", "--json"]) == 2  # the config error, as before
    assert "journal_mode" in capsys.readouterr().err
    monkeypatch.delenv("AMPSM_SQLITE_JOURNAL_MODE")
    (isolated_env / "config.yaml").write_text("database:\n  busy_timeout_ms: 2000\n")
    assert lean_config() is None
    assert _fast(["list", "--json"], capsys) == _full(["list", "--json"], capsys)
    (isolated_env / "config.yaml").write_text("database:\n  nope: 1\n")
    assert main(["list", "--json"]) == 2
    assert "database.nope" in capsys.readouterr().err


def test_list_json_stays_lean(seeded: list[str]) -> None:
    """The rule: `list --json` answered by the lean path imports no event loop, no models, no
    aiosqlite, no rich, no textual."""
    code = (
        "import sys\n"
        "from ampsm_tui.cli import main\n"
        "status = main(['list', '--json'])\n"
        "heavy = ('asyncio', 'pydantic', 'aiosqlite', 'rich', 'textual', 'yaml')\n"
        "sys.stderr.write('LOADED ' + ' '.join(sorted(m for m in heavy if m in sys.modules)) + '\\n')\n"
        "raise SystemExit(status)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) == len(seeded)
    assert "LOADED \n" in out.stderr, out.stderr
