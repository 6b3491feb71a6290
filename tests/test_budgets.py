"""Budgets that hold (issue 19): a batch's `maxCost`, `budget.daily`, a session's `--max-cost`.

The real `ampsm` in a subprocess, real git repos, the real DB and the fake `amp` (which reports
tokens the amp price turns into $0.01431 a turn), so spending is what the DB records.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

from tests.conftest import FAKES, run_cli
from tests.test_batch_file import make_repo

ENV = {"PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}", "AMP_API_KEY": "test-key-123456"}
TURN = 0.01431  # the fake amp's priced turn


def _batch(ws: Path, extra: str = "") -> Path:
    make_repo(ws / "repo")
    f = ws / "batch.yaml"
    items = "".join(f"  - name: i{n}\n    prompt: say hi {n}\n" for n in range(4))
    f.write_text(f"name: budget batch\nrepos:\n  - path: repo\nitems:\n{items}concurrency: 1\n{extra}")
    return f


def _started(home: Path) -> list[tuple[str, str, str | None]]:
    conn = sqlite3.connect(home / "sessions.db")
    try:
        return list(conn.execute("SELECT name, status, error FROM batch_items ORDER BY ordinal"))
    finally:
        conn.close()


def test_batch_max_cost_starts_no_item_past_it(tmp_path: Path, isolated_env: Path) -> None:
    f = _batch(tmp_path / "ws", "maxCost: 0.02\n")  # one turn is under it, two are past it
    out = run_cli("batch", "start", "--file", str(f), "--json", env=ENV, timeout=300)
    assert out.returncode == 1, out.stderr + out.stdout  # not every item ran: never a silent success
    assert json.loads(out.stdout)["counts"]["aborted"] >= 2
    rows = _started(Path(os.environ["AMPSM_CONFIG_DIR"]))
    assert [r[1] for r in rows] == ["succeeded", "succeeded", "aborted", "aborted"]
    assert all("not started: batch budget maxCost $0.02 reached ($0.0286 spent)" in (r[2] or "") for r in rows[2:])
    conn = sqlite3.connect(Path(os.environ["AMPSM_CONFIG_DIR"]) / "sessions.db")
    try:
        (sessions,) = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()
        (spent,) = conn.execute("SELECT SUM(cost_usd) FROM iterations").fetchone()
    finally:
        conn.close()
    assert sessions == 2 and abs(spent - 2 * TURN) < 1e-9


def test_daily_budget_stops_batches_and_sessions(tmp_path: Path, isolated_env: Path) -> None:
    (isolated_env / "config.yaml").write_text("budget:\n  daily: 0.01\n")
    f = _batch(tmp_path / "ws")
    out = run_cli("batch", "start", "--file", str(f), "--json", env=ENV, timeout=300)
    assert out.returncode == 1, out.stderr + out.stdout  # not every item ran: never a silent success
    assert json.loads(out.stdout)["counts"]["aborted"] >= 2
    rows = _started(isolated_env)
    # the first item's turn is stopped when it reaches the day's budget; no other item starts
    assert [r[1] for r in rows] == ["failed", "aborted", "aborted", "aborted"]
    assert "stopped at the budget" in (rows[0][2] or "")
    assert all("not started: daily budget $0.01 reached" in (r[2] or "") for r in rows[1:])
    # a session's next turn is refused before anything runs, with the reason
    repo = tmp_path / "ws" / "repo"
    new = run_cli("new", "--repo", str(repo), "--name", "late", "--prompt", "hi", "--json", env=ENV)
    assert new.returncode == 0, new.stderr
    sid = json.loads(new.stdout)["id"]
    it = run_cli("iterate", sid, "--prompt", "more", env=ENV)
    assert it.returncode != 0 and "daily budget $0.01 reached" in it.stderr and "nothing was run" in it.stderr


def test_session_max_cost_counts_the_whole_session(tmp_path: Path, isolated_env: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    new = run_cli("new", "--repo", str(repo), "--name", "s", "--prompt", "hi", "--json", env=ENV)
    assert new.returncode == 0, new.stderr
    sid = json.loads(new.stdout)["id"]
    first = run_cli("iterate", sid, "--max-cost", "0.02", "--json", env=ENV, timeout=120)
    assert first.returncode == 0, first.stderr  # $0.0143 of $0.02: the whole turn runs
    second = run_cli("iterate", sid, "--prompt", "again", "--max-cost", "0.02", env=ENV, timeout=120)
    assert second.returncode != 0 and "stopped at the budget" in second.stderr  # stopped at what was left
    third = run_cli("iterate", sid, "--prompt", "more", "--max-cost", "0.02", env=ENV, timeout=120)
    assert third.returncode != 0
    # what the stopped turn had spent depends on when the stop met the agent's stream (after its
    # first usage report or after both): the refusal names what the DB holds, past the budget
    found = re.search(r"session budget --max-cost \$0\.02 reached \(\$(\d+\.\d+) spent\)", third.stderr)
    assert found, third.stderr
    conn = sqlite3.connect(isolated_env / "sessions.db")
    try:
        (spent,) = conn.execute("SELECT SUM(cost_usd) FROM iterations WHERE session_id = ?", (sid,)).fetchone()
    finally:
        conn.close()
    assert float(found.group(1)) == round(spent, 4) and spent >= 0.02
    assert "nothing was run" in third.stderr


def test_a_running_turn_is_stopped_at_the_session_budget(tmp_path: Path, isolated_env: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    new = run_cli("new", "--repo", str(repo), "--name", "s", "--prompt", "hi", "--json", env=ENV)
    assert new.returncode == 0, new.stderr
    sid = json.loads(new.stdout)["id"]
    # the fake amp reports usage in two messages (a second apart): the first one passes the budget
    slow = {**ENV, "FAKE_AGENT_DELAY": "1"}
    run_cli("iterate", sid, "--max-cost", "0.001", "--json", env=slow, timeout=120)
    conn = sqlite3.connect(isolated_env / "sessions.db")
    try:
        status, error, cost = conn.execute("SELECT status, error, cost_usd FROM iterations").fetchone()
    finally:
        conn.close()
    assert status == "interrupted"
    assert error.startswith("stopped at the budget: this turn reached $")
    assert cost is not None and 0.001 <= cost < TURN  # the second message never came
    assert (repo / ".worktrees").is_dir()
