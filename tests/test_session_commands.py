"""The headless review commands and the lifecycle around iterations, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FAKES, db_rows, git, run_cli
from tests.test_session_flow import _marker_processes


@pytest.fixture
def agent_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
        "AMP_API_KEY": "amp-test-key-for-commands",
        "FAKE_AGENT_LOG": str(tmp_path / "agent-calls.jsonl"),
        "FAKE_AGENT_MARKER": f"marker-{tmp_path.name}",
    }


def make(repo: Path, env: dict[str, str], name: str = "feat", *extra: str) -> str:
    out = run_cli("new", "--repo", str(repo), "--name", name, "--prompt", "add hello", "--json", *extra, env=env)
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout)["id"])


def test_list_and_status(repo: Path, agent_env: dict[str, str]) -> None:
    first = make(repo, agent_env, "one")
    second = make(repo, agent_env, "two")
    assert run_cli("iterate", second, env=agent_env).returncode == 0
    listed = json.loads(run_cli("list", "--json").stdout)
    assert [s["id"] for s in listed] == [second, first]  # newest first
    idle = json.loads(run_cli("list", "--status", "idle", "--json").stdout)
    assert {s["id"] for s in idle} == {first, second}
    assert json.loads(run_cli("list", "--status", "done", "--json").stdout) == []
    status = json.loads(run_cli("status", second, "--json").stdout)
    assert status["session"]["id"] == second and len(status["iterations"]) == 1
    assert status["iterations"][0]["input_tokens"] == 2700
    text = run_cli("status", second).stdout
    assert second in text and "unpriced" not in text and "$0.0143" in text
    summary = json.loads(run_cli("status", "--json").stdout)
    assert summary == {"total": 2, "by_status": {"idle": 2}}
    missing = run_cli("status", "sess-nope")
    assert missing.returncode == 2 and "no such session" in missing.stderr


def test_diff_squash_rebase_merge(repo: Path, agent_env: dict[str, str]) -> None:
    sid = make(repo, agent_env)
    for prompt in ("one", "two", "three"):
        assert run_cli("iterate", sid, "--prompt", prompt, env=agent_env).returncode == 0
    stat = run_cli("diff", sid, "--stat")
    assert stat.returncode == 0 and "hello.txt" in stat.stdout
    patch = run_cli("diff", sid).stdout
    assert "+turn 3" in patch or "+hi" in patch
    last = run_cli("diff", sid, "--last").stdout
    assert "turn 3" in last and "+hi" not in last
    (s,) = db_rows(Path(os.environ["AMPSM_CONFIG_DIR"]), "SELECT * FROM sessions")
    wt = Path(s["worktree_path"])
    assert git(wt, "rev-list", "--count", "main..HEAD") == "3"
    tree_before = git(wt, "rev-parse", "HEAD^{tree}")
    squashed = run_cli("squash", sid, "--message", "feat: greet the world", "--json")
    assert squashed.returncode == 0, squashed.stderr
    assert git(wt, "rev-list", "--count", "main..HEAD") == "1"
    assert git(wt, "rev-parse", "HEAD^{tree}") == tree_before
    assert git(wt, "log", "-1", "--format=%s") == "feat: greet the world"
    # main moves on (another file): rebase onto it, then merge fast-forwards
    (repo / "other.txt").write_text("x\n")
    git(repo, "add", "other.txt")
    git(repo, "commit", "-qm", "other work")
    rebased = run_cli("rebase", sid, "--onto", "main")
    assert rebased.returncode == 0, rebased.stderr
    assert git(wt, "merge-base", "HEAD", "main") == git(repo, "rev-parse", "main")
    merged = run_cli("merge", sid, "--json")
    assert merged.returncode == 0, merged.stderr
    assert (repo / "hello.txt").exists() and git(repo, "log", "-1", "--format=%s") == "feat: greet the world"
    assert git(repo, "status", "--porcelain") == ""
    assert not wt.exists()
    (s,) = db_rows(Path(os.environ["AMPSM_CONFIG_DIR"]), "SELECT * FROM sessions")
    assert s["status"] == "done"
    again = run_cli("iterate", sid, env=agent_env)
    assert again.returncode == 2 and "done" in again.stderr


def test_merge_conflict_reports_files_and_changes_nothing(repo: Path, agent_env: dict[str, str]) -> None:
    sid = make(repo, agent_env)
    assert run_cli("iterate", sid, env=agent_env).returncode == 0
    (repo / "hello.txt").write_text("main's own hello\n")
    git(repo, "add", "hello.txt")
    git(repo, "commit", "-qm", "main hello")
    before = (git(repo, "rev-parse", "main"), git(repo, "status", "--porcelain"))
    out = run_cli("merge", sid)
    assert out.returncode == 11 and out.stderr.startswith("E001:") and "hello.txt" in out.stderr
    assert (git(repo, "rev-parse", "main"), git(repo, "status", "--porcelain")) == before
    assert not (repo / ".git" / "MERGE_HEAD").exists()


def test_archive_keeps_unmerged_work(repo: Path, agent_env: dict[str, str]) -> None:
    sid = make(repo, agent_env)
    assert run_cli("iterate", sid, env=agent_env).returncode == 0
    (s,) = db_rows(Path(os.environ["AMPSM_CONFIG_DIR"]), "SELECT * FROM sessions")
    tip = git(Path(s["worktree_path"]), "rev-parse", "HEAD")
    refused = run_cli("archive", sid)  # ui.confirm_destructive and no terminal
    assert refused.returncode == 2 and "--yes" in refused.stderr
    out = run_cli("archive", sid, "--yes", "--json")
    assert out.returncode == 0, out.stderr
    kept = json.loads(out.stdout)["kept"]
    assert kept and git(repo, "rev-parse", kept) == tip
    assert not Path(s["worktree_path"]).exists()
    assert db_rows(Path(os.environ["AMPSM_CONFIG_DIR"]), "SELECT status FROM sessions")[0]["status"] == "archived"


def test_cancel_from_another_process(repo: Path, agent_env: dict[str, str]) -> None:
    sid = make(repo, agent_env)
    env = {**os.environ, **agent_env, "FAKE_AGENT_MODE": "hang"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ampsm_tui", "iterate", sid],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cfg = Path(os.environ["AMPSM_CONFIG_DIR"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if db_rows(cfg, "SELECT status FROM sessions")[0]["status"] == "running" and _marker_processes(
            agent_env["FAKE_AGENT_MARKER"]
        ):
            break
        time.sleep(0.1)
    out = run_cli("cancel", sid, "--json")
    assert out.returncode == 0 and json.loads(out.stdout) == {"cancelled": True}
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert db_rows(cfg, "SELECT status FROM sessions")[0]["status"] == "interrupted"
    assert _marker_processes(agent_env["FAKE_AGENT_MARKER"]) == []
    assert run_cli("cancel", sid).returncode == 1  # nothing running now


def test_dead_process_is_reconciled_to_interrupted(repo: Path, agent_env: dict[str, str]) -> None:
    sid = make(repo, agent_env)
    cfg = Path(os.environ["AMPSM_CONFIG_DIR"])
    env = {**os.environ, **agent_env, "FAKE_AGENT_MODE": "hang"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ampsm_tui", "iterate", sid],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    # a turn under way: the session `running` and its iteration row written (the status comes first)
    while time.monotonic() < deadline and not (
        db_rows(cfg, "SELECT status FROM sessions")[0]["status"] == "running"
        and db_rows(cfg, "SELECT 1 FROM iterations")
    ):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole thing dies without a chance to record anything
    proc.wait()
    assert db_rows(cfg, "SELECT status FROM sessions")[0]["status"] == "running"
    status = json.loads(run_cli("status", sid, "--json").stdout)
    assert status["session"]["status"] == "interrupted"
    assert status["iterations"][0]["status"] == "interrupted" and status["iterations"][0]["ended_at"]


def test_interactive_continues_the_thread(repo: Path, agent_env: dict[str, str], tmp_path: Path) -> None:
    sid = make(repo, agent_env)
    out = run_cli("interactive", sid, env=agent_env, input="first question\nsecond question\n\n")
    assert out.returncode == 0, out.stderr
    calls = [json.loads(line) for line in (tmp_path / "agent-calls.jsonl").read_text().splitlines()]
    assert len(calls) == 2 and calls[1]["continued"] and calls[1]["thread_id"] == calls[0]["thread_id"]
    its = db_rows(Path(os.environ["AMPSM_CONFIG_DIR"]), "SELECT prompt FROM iterations ORDER BY number")
    assert [i["prompt"] for i in its] == ["first question", "second question"]


def test_verify_amp(agent_env: dict[str, str]) -> None:
    ok = run_cli("verify-amp", "--json", env=agent_env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["agent"] == "amp"
    no_key = {k: v for k, v in agent_env.items() if k != "AMP_API_KEY"}
    env = {**no_key, "HOME": agent_env["FAKE_AGENT_LOG"] + "-home"}
    bad = run_cli("verify-amp", env={**env, "AMP_API_KEY": ""})
    assert bad.returncode == 12 and bad.stderr.startswith("E002:")
    missing = run_cli("verify-amp", env={"PATH": "/usr/bin:/bin"})
    assert missing.returncode == 12 and "amp" in missing.stderr


def test_transient_failure_is_retried(
    repo: Path, agent_env: dict[str, str], tmp_path: Path, isolated_env: Path
) -> None:
    (isolated_env / "config.yaml").write_text("amp:\n  retry_attempts: 2\n")
    state = tmp_path / "fake-state"
    state.mkdir()
    env = {**agent_env, "FAKE_AGENT_MODE": "fail-once", "FAKE_AGENT_STATE": str(state)}
    sid = make(repo, env)
    out = run_cli("iterate", sid, "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "completed"
    calls = (tmp_path / "agent-calls.jsonl").read_text().splitlines()
    assert len(calls) == 2


def test_no_retry_when_disabled(repo: Path, agent_env: dict[str, str], tmp_path: Path, isolated_env: Path) -> None:
    (isolated_env / "config.yaml").write_text("amp:\n  retry_attempts: 0\n")
    state = tmp_path / "fake-state"
    state.mkdir()
    env = {**agent_env, "FAKE_AGENT_MODE": "fail-once", "FAKE_AGENT_STATE": str(state)}
    sid = make(repo, env)
    out = run_cli("iterate", sid, env=env)
    assert out.returncode == 12 and "failed" in out.stderr
    assert len((tmp_path / "agent-calls.jsonl").read_text().splitlines()) == 1


def test_squash_without_message_is_written_from_the_iterations(repo: Path, agent_env: dict[str, str]) -> None:
    out = run_cli("new", "--repo", str(repo), "--name", "fix-login-bug", "--prompt", "fix it", "--json", env=agent_env)
    sid = json.loads(out.stdout)["id"]
    for prompt in ("one", "two"):
        assert run_cli("iterate", sid, "--prompt", prompt, env=agent_env).returncode == 0
    assert run_cli("squash", sid).returncode == 0
    (s,) = db_rows(Path(os.environ["AMPSM_CONFIG_DIR"]), "SELECT * FROM sessions")
    message = git(Path(s["worktree_path"]), "log", "-1", "--format=%B")
    lines = message.splitlines()
    assert lines[0] == "fix: login bug"
    assert "- Created hello.txt containing hi." in lines and "- Appended turn 2 to hello.txt." in lines
    assert f"Session: {sid}" in message
    assert "one" not in lines and "two" not in lines  # summaries, not prompts glued together


def test_abort_a_kept_conflict_from_the_cli(repo: Path, agent_env: dict[str, str]) -> None:
    """A conflict kept for resolution (the TUI's conflict view) can be aborted from a terminal."""
    import asyncio

    from ampsm_tui.engine.engine import Engine

    sid = make(repo, agent_env)
    assert run_cli("iterate", sid, env=agent_env).returncode == 0
    (repo / "hello.txt").write_text("main's own hello\n")
    git(repo, "add", "hello.txt")
    git(repo, "commit", "-qm", "main hello")
    (s,) = db_rows(Path(os.environ["AMPSM_CONFIG_DIR"]), "SELECT * FROM sessions")
    wt = Path(s["worktree_path"])
    before = (git(wt, "rev-parse", "HEAD"), git(wt, "status", "--porcelain"), git(repo, "rev-parse", "main"))

    async def keep_conflict() -> list[str]:
        engine = await Engine.open()
        try:
            result = await engine.sessions.rebase(sid, keep_conflict=True)
            return list(result.conflicts)
        finally:
            await engine.close()

    assert asyncio.run(keep_conflict()) == ["hello.txt"]
    assert git(wt, "status", "--porcelain") != before[1]  # mid-rebase, conflict markers
    out = run_cli("abort", sid, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["what"] == "aborted the rebase/merge in progress"
    assert (git(wt, "rev-parse", "HEAD"), git(wt, "status", "--porcelain"), git(repo, "rev-parse", "main")) == before
    nothing = run_cli("abort", sid)
    assert nothing.returncode == 1 and "nothing to abort" in nothing.stdout


def test_new_without_base_uses_the_checked_out_branch_else_e001(
    repo: Path, tmp_path: Path, isolated_env: Path, agent_env: dict[str, str]
) -> None:
    """Without --base and without the configured default branch, the main checkout's branch is the
    base (decided inside create_worktree's one ref lookup); an empty repo is E001 with no row and
    no worktree."""
    git(repo, "branch", "-m", "main", "trunk")
    out = run_cli("new", "--repo", str(repo), "--name", "t", "--json", env=agent_env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["base_branch"] == "trunk"
    assert git(repo, "config", f"branch.{doc['branch']}.ampsmBase") == "trunk"
    assert git(repo, "rev-parse", doc["branch"]) == git(repo, "rev-parse", "trunk")
    explicit = run_cli("new", "--repo", str(repo), "--name", "m", "--base", "main", env=agent_env)
    assert explicit.returncode != 0 and "base branch 'main' does not exist" in explicit.stderr
    assert "pass --base" not in explicit.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    bad = run_cli("new", "--repo", str(empty), "--name", "e", env=agent_env)  # `main` is unborn
    assert bad.returncode != 0 and bad.stderr.startswith("E001: base branch 'main' does not exist"), bad.stderr
    (empty / "a.txt").write_text("a\n")
    git(empty, "add", "a.txt")
    git(empty, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "a")
    git(empty, "checkout", "-q", "--detach")
    git(empty, "branch", "-q", "-D", "main")
    detached = run_cli("new", "--repo", str(empty), "--name", "e", env=agent_env)
    assert detached.returncode != 0 and detached.stderr.startswith("E001:"), detached.stderr
    assert "pass --base" in detached.stderr
    assert [r["base_branch"] for r in db_rows(isolated_env, "SELECT base_branch FROM sessions")] == ["trunk"]
    assert not (empty / ".worktrees").exists() or not any((empty / ".worktrees").iterdir())
