"""Issue 4's acceptance: real repos, real subprocesses, the fake agents on PATH, the real CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FAKES, db_rows, git, run_cli

SECRET = "amp-test-key-7c1e9d2b4a6f"


@pytest.fixture
def agent_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
        "AMP_API_KEY": SECRET,
        "FAKE_AGENT_LOG": str(tmp_path / "agent-calls.jsonl"),
        "FAKE_AGENT_MARKER": f"marker-{tmp_path.name}",
    }


def new_session(
    repo: Path, env: dict[str, str], *extra: str, run: bool = True
) -> tuple[subprocess.CompletedProcess[str], str]:
    args = ["new", "--repo", str(repo), "--name", "feature x", "--prompt", "add a greeting", "--json", *extra]
    if run:
        args.append("--run")
    out = run_cli(*args, env=env)
    sid = json.loads(out.stdout).get("id", "") if out.stdout.startswith("{") else ""  # one document, even on failure
    return out, sid


def test_new_run_with_fake_amp_records_everything(repo: Path, agent_env: dict[str, str], isolated_env: Path) -> None:
    out = run_cli(
        "new",
        "--repo",
        str(repo),
        "--name",
        "feature x",
        "--prompt",
        "add a greeting",
        "--script",
        "test -f hello.txt",
        "--run",
        "--stream",
        env=agent_env,
    )
    assert out.returncode == 0, out.stderr
    assert "Created session: sess-" in out.stdout
    assert "→" in out.stdout  # a streamed tool call
    assert "tests passed" in out.stdout
    (s,) = db_rows(isolated_env, "SELECT * FROM sessions")
    assert s["status"] == "idle" and s["thread_id"].startswith("T-")
    wt = Path(s["worktree_path"])
    assert wt == repo / ".worktrees" / s["id"] and wt.is_dir()
    assert s["branch"].startswith("amp/feature-x/")
    (it,) = db_rows(isolated_env, "SELECT * FROM iterations")
    assert it["status"] == "completed" and it["exit_code"] == 0
    assert (it["input_tokens"], it["output_tokens"], it["cache_creation_tokens"], it["cache_read_tokens"]) == (
        2700,
        65,
        500,
        11200,
    )
    assert it["cost_usd"] == pytest.approx(0.01431, abs=1e-6)
    assert it["thread_id"] == s["thread_id"] and it["test_exit_code"] == 0
    calls = db_rows(isolated_env, "SELECT * FROM tool_calls WHERE iteration_id = ?", (it["id"],))
    assert calls and all(c["ok"] == 1 and c["duration_ms"] is not None for c in calls)
    # exactly one amp: commit with the agent's file, trailers naming session and iteration
    log = git(wt, "log", "--format=%s%n%b---", "main..HEAD")
    assert log.count("---") == 1 and log.startswith("amp: ")
    assert f"Amp-Session: {s['id']}" in log and "Amp-Iteration: 1" in log
    assert git(wt, "show", "--name-only", "--format=", "HEAD") == "hello.txt"
    assert git(repo, "status", "--porcelain") == ""  # the user's checkout is untouched
    assert Path(it["raw_log_path"]).is_file()
    threads = db_rows(isolated_env, "SELECT * FROM threads")
    assert [t["id"] for t in threads] == [s["thread_id"]]


def test_second_iterate_continues_the_thread(
    repo: Path, agent_env: dict[str, str], isolated_env: Path, tmp_path: Path
) -> None:
    out, sid = new_session(repo, agent_env)
    assert out.returncode == 0, out.stderr
    again = run_cli("iterate", sid[:9], "--prompt", "more please", env=agent_env)
    assert again.returncode == 0, again.stderr
    calls = [json.loads(line) for line in (tmp_path / "agent-calls.jsonl").read_text().splitlines()]
    first_thread = calls[0]["thread_id"]
    assert calls[0]["continued"] is False
    assert calls[1]["continued"] is True and calls[1]["thread_id"] == first_thread
    assert calls[1]["argv"][:3] == ["threads", "continue", first_thread]
    its = db_rows(isolated_env, "SELECT number, thread_id, commit_sha FROM iterations ORDER BY number")
    assert [i["number"] for i in its] == [1, 2]
    assert its[0]["thread_id"] == its[1]["thread_id"] == first_thread
    assert its[1]["commit_sha"] and its[0]["commit_sha"] != its[1]["commit_sha"]


def test_failing_test_script_awaits_input_with_e006(repo: Path, agent_env: dict[str, str], isolated_env: Path) -> None:
    out, _sid = new_session(repo, agent_env, "--script", "echo 'assertion failed: 2 != 3'; exit 3")
    assert out.returncode == 16, (out.returncode, out.stderr)
    assert out.stderr.startswith("E006:")
    assert "assertion failed: 2 != 3" in out.stderr
    (s,) = db_rows(isolated_env, "SELECT * FROM sessions")
    assert s["status"] == "awaiting-input" and s["last_test_exit"] == 3
    (it,) = db_rows(isolated_env, "SELECT * FROM iterations")
    assert it["test_exit_code"] == 3 and "assertion failed" in it["test_log"]
    assert it["commit_sha"]  # the agent's work is committed before the gate


def _marker_processes(marker: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd and "pytest" not in cmd:
            found.append(cmd)
    return found


def test_hanging_agent_is_killed_at_timeout_with_children(
    repo: Path, agent_env: dict[str, str], isolated_env: Path
) -> None:
    env = {**agent_env, "FAKE_AGENT_MODE": "hang", "FAKE_AGENT_IGNORE_TERM": "1"}
    out, _sid = new_session(repo, env, "--timeout", "2")
    assert out.returncode == 15, (out.returncode, out.stderr)
    assert out.stderr.startswith("E005:")
    assert _marker_processes(agent_env["FAKE_AGENT_MARKER"]) == []
    (s,) = db_rows(isolated_env, "SELECT * FROM sessions")
    assert s["status"] == "error" and s["pid"] is None
    (it,) = db_rows(isolated_env, "SELECT * FROM iterations")
    assert it["status"] == "timeout" and it["ended_at"]


def test_crash_mid_stream_keeps_events(repo: Path, agent_env: dict[str, str], isolated_env: Path) -> None:
    out, _sid = new_session(repo, {**agent_env, "FAKE_AGENT_MODE": "crash"})
    assert out.returncode != 0
    (s,) = db_rows(isolated_env, "SELECT * FROM sessions")
    assert s["status"] == "interrupted"
    (it,) = db_rows(isolated_env, "SELECT * FROM iterations")
    assert it["status"] == "interrupted"
    assert db_rows(isolated_env, "SELECT * FROM tool_calls")  # the tool call before the crash is kept
    assert it["input_tokens"] > 0  # so is the usage of the message that arrived
    assert it["commit_sha"]  # and the edit it made is committed


def test_garbage_lines_are_kept_as_raw_and_iteration_completes(
    repo: Path, agent_env: dict[str, str], isolated_env: Path
) -> None:
    out, _sid = new_session(repo, {**agent_env, "FAKE_AGENT_MODE": "garbage"})
    assert out.returncode == 0, out.stderr
    (it,) = db_rows(isolated_env, "SELECT * FROM iterations")
    assert it["status"] == "completed" and it["raw_lines"] == 5
    assert it["input_tokens"] == 2700


def test_fake_secret_never_reaches_db_logs_or_stdout(repo: Path, agent_env: dict[str, str], isolated_env: Path) -> None:
    out = run_cli(
        "new",
        "--repo",
        str(repo),
        "--name",
        "s",
        "--prompt",
        "p",
        "--run",
        "--stream",
        "--script",
        "printf 'sk-ant-%s\\n' FAKEKEY0123456789abcdef; echo $AMP_API_KEY",
        env={**agent_env, "FAKE_AGENT_MODE": "secret"},
    )
    assert out.returncode == 0, out.stderr
    needles = (SECRET, "sk-ant-FAKEKEY0123456789abcdef")
    for needle in needles:
        assert needle not in out.stdout and needle not in out.stderr
    assert "[REDACTED]" in out.stdout
    dump = subprocess.run(["sqlite3", str(isolated_env / "sessions.db"), ".dump"], capture_output=True, text=True)
    haystacks = [dump.stdout] if dump.returncode == 0 else []
    conn = sqlite3.connect(isolated_env / "sessions.db")
    for table in ("sessions", "iterations", "tool_calls", "threads"):
        haystacks.append(repr(conn.execute(f"SELECT * FROM {table}").fetchall()))
    conn.close()
    for path in isolated_env.rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".log"):
            haystacks.append(path.read_text(errors="replace"))
    for hay in haystacks:
        for needle in needles:
            assert needle not in hay


def test_until_green_ends_green_after_two_iterations(repo: Path, agent_env: dict[str, str], isolated_env: Path) -> None:
    out, _sid = new_session(
        repo,
        {**agent_env, "FAKE_AGENT_MODE": "fix-on-second-turn"},
        "--script",
        f"{sys.executable} -c 'import calc; assert calc.add(2, 3) == 5'",
        "--until-green",
        "3",
    )
    assert out.returncode == 0, out.stderr
    its = db_rows(isolated_env, "SELECT * FROM iterations ORDER BY number")
    assert [i["test_exit_code"] == 0 for i in its] == [False, True]
    assert "calc.add" in its[1]["prompt"] or "failed" in its[1]["prompt"]
    (s,) = db_rows(isolated_env, "SELECT * FROM sessions")
    assert s["status"] == "idle"


def test_command_agent_edits_and_commits_without_tokens(repo: Path, isolated_env: Path) -> None:
    (repo / "b.py").write_text("def add(x):\n    return add(x)\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more")
    out = run_cli(
        "new",
        "--repo",
        str(repo),
        "--name",
        "rename",
        "--prompt",
        "rename add to plus",
        "--agent",
        "command",
        "--agent-cmd",
        "sed -i s/add/plus/g app.py b.py",
        "--run",
    )
    assert out.returncode == 0, out.stderr
    (s,) = db_rows(isolated_env, "SELECT * FROM sessions")
    wt = Path(s["worktree_path"])
    assert "plus" in (wt / "app.py").read_text() and "plus" in (wt / "b.py").read_text()
    assert "add" in (repo / "app.py").read_text()  # main untouched
    (it,) = db_rows(isolated_env, "SELECT * FROM iterations")
    assert it["files_changed"] == 2 and it["commit_sha"]
    assert it["input_tokens"] == 0 and it["output_tokens"] == 0 and it["cost_usd"] == 0
    assert db_rows(isolated_env, "SELECT * FROM tool_calls") == []


def test_sigterm_records_interrupted_and_exits_nonzero(
    repo: Path, agent_env: dict[str, str], isolated_env: Path
) -> None:
    out, sid = new_session(repo, agent_env, run=False)
    assert out.returncode == 0, out.stderr
    env = {**os.environ, **agent_env, "FAKE_AGENT_MODE": "hang"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ampsm_tui", "iterate", sid],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = db_rows(isolated_env, "SELECT status FROM sessions")
        if rows and rows[0]["status"] == "running" and _marker_processes(agent_env["FAKE_AGENT_MARKER"]):
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, _err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    (s,) = db_rows(isolated_env, "SELECT * FROM sessions")
    assert s["status"] == "interrupted" and s["pid"] is None
    (it,) = db_rows(isolated_env, "SELECT * FROM iterations")
    assert it["status"] == "interrupted" and it["ended_at"]
    assert _marker_processes(agent_env["FAKE_AGENT_MARKER"]) == []


def test_missing_agent_is_e002(repo: Path, isolated_env: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    out = run_cli("new", "--repo", str(repo), "--name", "x", "--prompt", "p", "--agent", "claude", "--run", env=env)
    assert out.returncode == 12 and out.stderr.startswith("E002:")


def test_not_a_repo_is_e001_and_leaves_no_row(tmp_path: Path, isolated_env: Path) -> None:
    (tmp_path / "plain").mkdir()
    out = run_cli("new", "--repo", str(tmp_path / "plain"), "--name", "x", "--agent", "command", "--agent-cmd", "true")
    assert out.returncode == 11 and out.stderr.startswith("E001:")
    assert len(out.stderr.strip().splitlines()) == 1
    assert db_rows(isolated_env, "SELECT * FROM sessions") == []
