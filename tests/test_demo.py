"""`ampsm demo`: a real workspace, real sessions, and never the user's own data."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, git, run_cli


def demo_json(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> dict[str, object]:
    out = run_cli("demo", "--headless", "--speed", "0", "--json", *args, env=env, cwd=cwd, timeout=300)
    assert out.returncode == 0, out.stderr
    data: dict[str, object] = json.loads(out.stdout)
    return data


def by_role(data: dict[str, object]) -> dict[str, dict[str, object]]:
    return {str(s["role"]): s for s in data["sessions"] if s["role"] != "batch item"}  # type: ignore[union-attr,index]


def dump(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_headless_demo_with_an_empty_home_creates_nothing_outside_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMPSM_", "GIT_"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1")  # no git identity, no ampsm config at all
    before = {p for p in tree(tmp_path) if p != "home" and not p.startswith("home/")}
    out = subprocess.run(
        [sys.executable, "-m", "ampsm_tui", "demo", "--headless", "--speed", "0"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    for word in ("awaiting-input", "idle", "pass", "fail (1)", "demo-batch: done", str(home / ".ampsm" / "demo")):
        assert word in out.stdout
    assert (home / ".ampsm" / "demo" / "sessions.db").is_file()
    assert not (home / ".ampsm" / "sessions.db").exists()  # the user's own DB is not even created
    assert {p for p in tree(tmp_path) if p != "home" and not p.startswith("home/")} == before  # only HOME changed
    assert list(cwd.iterdir()) == []


def test_demo_sessions_are_real_branches_commits_and_test_results(tmp_path: Path) -> None:
    d = tmp_path / "demo"
    data = demo_json("--dir", str(d))
    repo = Path(str(data["repo"]))
    roles = by_role(data)
    assert set(roles) == {"green", "failing", "conflict", "stopped", "live", "merged"}
    assert roles["stopped"]["status"] == "interrupted"  # a fourth state that lasts (beside idle, awaiting, done)
    batch_items = [s for s in data["sessions"] if s["role"] == "batch item"]  # type: ignore[union-attr,index]
    assert len(batch_items) == 1
    assert roles["merged"]["status"] == "done" and (repo / "CHANGELOG.md").exists()  # a batch result, merged
    assert data["batches"][0]["status"] == "done"  # type: ignore[index]

    conn = sqlite3.connect(d / "sessions.db")
    conn.row_factory = sqlite3.Row
    for s in [*roles.values(), *batch_items]:
        if s["role"] != "merged":  # a merged session's branch is removed after the merge
            git(repo, "rev-parse", "--verify", f"refs/heads/{s['branch']}")  # the branch exists
        its = conn.execute("SELECT * FROM iterations WHERE session_id = ?", (s["id"],)).fetchall()
        if s["role"] == "live":
            assert its == [] and s["status"] == "idle"
            continue
        (it,) = its
        expected = "interrupted" if s["role"] == "stopped" else "completed"  # cancelled after its edit
        assert it["status"] == expected and it["input_tokens"] > 0 and it["cost_usd"] > 0
        message = git(repo, "log", "-1", "--format=%s", it["commit_sha"])
        assert message.startswith("amp: ")
        if s["role"] == "merged":
            git(repo, "merge-base", "--is-ancestor", it["commit_sha"], "main")
        else:
            assert git(repo, "rev-parse", f"refs/heads/{s['branch']}") == it["commit_sha"]
        tools = conn.execute("SELECT COUNT(*) FROM tool_calls WHERE iteration_id = ?", (it["id"],)).fetchone()[0]
        assert tools >= 1
    conn.close()

    assert roles["green"]["status"] == "idle" and roles["green"]["last_test"] == 0
    assert roles["failing"]["status"] == "awaiting-input" and roles["failing"]["last_test"] not in (None, 0)
    assert roles["conflict"]["last_test"] == 0
    # the test results are real: the script fails in the failing session's worktree, passes in the green one
    conn = sqlite3.connect(d / "sessions.db")
    worktrees = dict(conn.execute("SELECT id, worktree_path FROM sessions").fetchall())
    conn.close()
    for role, expect_ok in (("failing", False), ("green", True)):
        ran = subprocess.run([sys.executable, "-m", "unittest", "-q"], cwd=worktrees[roles[role]["id"]],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert (ran.returncode == 0) is expect_ok, ran.stderr

    env = {"AMPSM_CONFIG_DIR": str(d)}
    main_before = git(repo, "rev-parse", "main")
    out = run_cli("merge", str(roles["conflict"]["id"]), env=env)
    assert out.returncode != 0 and "conflict" in out.stderr and "textkit.py" in out.stderr
    assert git(repo, "rev-parse", "main") == main_before and git(repo, "status", "--porcelain") == ""

    # awaiting-input → iterate: the scripted agent reads the failing test and fixes it
    out = run_cli("iterate", str(roles["failing"]["id"]), env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    out = run_cli("status", str(roles["failing"]["id"]), "--json", env=env)
    status = json.loads(out.stdout)
    assert status["session"]["status"] == "idle" and status["iterations"][-1]["test_exit_code"] == 0
    assert status["session"]["thread_id"] == status["iterations"][0]["thread_id"]  # the thread continued

    out = run_cli("merge", str(roles["green"]["id"]), env=env)
    assert out.returncode == 0, out.stderr
    assert (repo / "test_slugify.py").exists()


def test_demo_twice_never_touches_the_users_db(tmp_path: Path, isolated_env: Path, repo: Path) -> None:
    made = run_cli("new", "--repo", str(repo), "--name", "mine", "--agent", "command", "--agent-cmd", "true")
    assert made.returncode == 0, made.stderr
    user_db = isolated_env / "sessions.db"
    rows = dump(user_db)
    assert any("mine" in r for r in rows)
    # even with the user's DB named explicitly in the environment, the demo uses its own
    env = {"AMPSM_DB_PATH": str(user_db)}
    first = demo_json(env=env)
    second = demo_json(env=env)
    assert first["workspace"] == second["workspace"] == str(isolated_env / "demo")
    assert len(second["sessions"]) == len(first["sessions"]) == 7  # type: ignore[arg-type]
    assert {s["id"] for s in first["sessions"]}.isdisjoint(s["id"] for s in second["sessions"])  # type: ignore[union-attr]
    assert dump(user_db) == rows
    listed = run_cli("list", "--json")
    assert [s["name"] for s in json.loads(listed.stdout)] == ["mine"]


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.mkdir()
    (target / "thesis.txt").write_text("do not delete")
    out = run_cli("demo", "--headless", "--dir", str(target))
    assert out.returncode == 2 and "not made by `ampsm demo`" in out.stderr
    assert (target / "thesis.txt").read_text() == "do not delete"
    assert run_cli("demo", "--headless", "--speed", "-1").returncode == 2


def test_make_run_runs_the_demo() -> None:
    makefile = (ROOT / "Makefile").read_text()
    run_target = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/ampsm demo $(ARGS)" in run_target


@pytest.mark.parametrize("speed", [0.0, 1.0, 4.0])
def test_speed_scales_the_agents_pauses(speed: float) -> None:
    from ampsm_tui.demo.agent import PAUSES, pause_for

    for kind, base in PAUSES.items():
        assert pause_for(kind, speed) == (0.0 if speed == 0 else base / speed)
