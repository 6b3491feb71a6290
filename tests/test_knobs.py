"""Every documented knob changes behaviour: SQLite pragmas, batch concurrency, the stream buffer, the amp
binary, per-session webhooks, ui.confirm_destructive, git.commit_prefix and git.worktree_dir."""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.conftest import FAKES, git, run_cli
from tests.test_notify_webhook import Receiver


def pragma(db: Path, name: str) -> object:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


# --- SQLite ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "1234"])
async def test_sqlite_cache_size(value: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    from ampsm_tui.engine.config import load_config
    from ampsm_tui.engine.store import Store

    if value:
        monkeypatch.setenv("AMPSM_SQLITE_CACHE_SIZE", value)
    store = Store.from_config(load_config())
    await store.open()
    try:
        row = await store._fetchone("PRAGMA cache_size")
    finally:
        await store.close()
    assert row is not None
    assert row[0] == (1234 if value else -2000)  # SQLite's own default is -2000 (2 MB)


@pytest.mark.parametrize(("value", "expected"), [(None, "wal"), ("delete", "delete"), ("DELETE", "delete")])
def test_sqlite_journal_mode(value: str | None, expected: str, isolated_env: Path) -> None:
    out = run_cli("list", env={"AMPSM_SQLITE_JOURNAL_MODE": value} if value else None)
    assert out.returncode == 0, out.stderr
    assert pragma(isolated_env / "sessions.db", "journal_mode") == expected  # WAL is recorded in the file


# --- batch concurrency --------------------------------------------------------------------------------

PROBE = """
import os, sys, time
log = sys.argv[1]
with open(log, "a") as f:
    f.write("start\\n")
peak = 0
deadline = time.time() + 2
while time.time() < deadline:
    text = open(log).read()
    peak = max(peak, text.count("start") - text.count("end"))
    if peak >= 2:
        break
    time.sleep(0.05)
with open(log, "a") as f:
    f.write(f"end peak={peak}\\n")
"""


@pytest.mark.parametrize(("env_value", "peak"), [("1", 1), ("2", 2)])
def test_batch_concurrency_env(env_value: str, peak: int, repo: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    log = tmp_path / "probe.log"
    cmd = f"{shlex.quote(sys.executable)} {shlex.quote(str(probe))} {shlex.quote(str(log))}"
    items = "".join(
        f"  - name: item{n}\n    prompt: p\n    agent: command\n    agentCmd: {json.dumps(cmd)}\n" for n in (1, 2)
    )
    f = tmp_path / "batch.yaml"
    f.write_text(f"name: knobs\nrepos:\n  - path: {repo}\nitems:\n{items}")
    env = {"AMPSM_BATCH_CONCURRENCY": env_value}
    plan = json.loads(run_cli("batch", "start", "--file", str(f), "--dry-run", "--json", env=env).stdout)
    assert plan["concurrency"] == int(env_value)
    out = run_cli("batch", "start", "--file", str(f), env=env)
    assert out.returncode == 0, out.stderr
    peaks = [int(line.split("=")[1]) for line in log.read_text().splitlines() if line.startswith("end")]
    assert max(peaks) == peak  # 1: the items ran one after the other; 2: side by side


# --- stream buffer -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "1024"])
async def test_stream_buffer_size(value: str | None, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ampsm_tui.engine.agents import process
    from ampsm_tui.engine.config import load_config
    from ampsm_tui.engine.engine import Engine

    if value:
        monkeypatch.setenv("AMPSM_STREAM_BUFFER_SIZE", value)
    chunks: list[int] = []

    class Spy(process.LineSplitter):
        def feed_block(self, chunk: bytes) -> str | None:  # what the reader hands each read
            chunks.append(len(chunk))
            return super().feed_block(chunk)

    monkeypatch.setattr(process, "LineSplitter", Spy)
    cmd = f"{shlex.quote(sys.executable)} -c \"import sys; sys.stdout.write('x' * 200000 + chr(10))\""
    engine = await Engine.open(load_config())
    try:
        s = await engine.sessions.create(repo=repo, name="buf", agent="command", agent_cmd=cmd)
        it = await engine.sessions.iterate(s.id, "go")
    finally:
        await engine.close()
    assert it.status == "completed"
    assert sum(chunks) == 200001  # every byte arrived
    if value:
        assert max(chunks) <= 1024
    else:
        assert max(chunks) > 1024  # the default reads 64 KiB at a time


# --- amp binary ----------------------------------------------------------------------------------------


def test_amp_binary_env(repo: Path, tmp_path: Path) -> None:
    stand_in = tmp_path / "bin" / "my-amp"
    stand_in.parent.mkdir()
    stand_in.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(FAKES / "amp"))} "$@"\n')
    stand_in.chmod(0o755)
    calls = tmp_path / "calls.jsonl"
    env = {"PATH": os.environ["PATH"], "FAKE_AGENT_LOG": str(calls)}  # no amp on PATH, no AMP_API_KEY
    base = ("new", "--repo", str(repo), "--name", "amp bin", "--prompt", "hi", "--run")
    missing = run_cli(*base, env=env)
    assert missing.returncode != 0 and missing.stderr.startswith("E002")
    out = run_cli(*base, env={**env, "AMPSM_AMP_BIN": str(stand_in)})
    assert out.returncode == 0, out.stderr
    (call,) = [json.loads(line) for line in calls.read_text().splitlines()]
    assert call["argv"][:2] == ["--execute", "hi"] and "--stream-json" in call["argv"]


# --- per-session webhook -------------------------------------------------------------------------------


def test_notify_webhook_on_new(repo: Path) -> None:
    base = ("new", "--repo", str(repo), "--agent", "command", "--agent-cmd", "true", "--script", "false", "--run")
    with Receiver() as rx:
        quiet = run_cli(*base, "--name", "quiet")
        assert quiet.returncode != 0 and rx.bodies == []  # no webhook: nothing is sent
        out = run_cli(*base, "--name", "loud", "--notify-webhook", rx.url, "--json")
        assert out.returncode != 0  # E006: the test script failed
        sid = json.JSONDecoder().raw_decode(out.stdout)[0]["id"]
        assert rx.got.wait(30)
    (body,) = rx.bodies
    assert body["session_id"] == sid and body["status"] == "awaiting-input" and sid in body["text"]


# --- ui.confirm_destructive ----------------------------------------------------------------------------


def test_confirm_destructive(repo: Path, isolated_env: Path) -> None:
    def new(name: str) -> str:
        out = run_cli("new", "--repo", str(repo), "--name", name, "--agent", "command", "--agent-cmd", "true", "--json")
        return str(json.loads(out.stdout)["id"])

    first, second = new("one"), new("two")
    asked = run_cli("archive", first)  # no terminal to ask on: refused, nothing archived
    assert asked.returncode == 2 and "--yes" in asked.stderr
    assert json.loads(run_cli("status", first, "--json").stdout)["session"]["status"] == "idle"
    (isolated_env / "config.yaml").write_text("ui:\n  confirm_destructive: false\n")
    assert run_cli("archive", first).returncode == 0
    assert json.loads(run_cli("status", first, "--json").stdout)["session"]["status"] == "archived"

    # force-clean: an orphaned worktree (its session row is gone) is removed only when allowed
    conn = sqlite3.connect(isolated_env / "sessions.db")
    conn.execute("DELETE FROM sessions WHERE id = ?", (second,))
    conn.commit()
    conn.close()
    (isolated_env / "config.yaml").write_text("ui:\n  confirm_destructive: true\n")
    refused = run_cli("clean-environment", "--repo", str(repo))
    assert refused.returncode == 2 and (repo / ".worktrees" / second).is_dir()
    (isolated_env / "config.yaml").write_text("ui:\n  confirm_destructive: false\n")
    cleaned = run_cli("clean-environment", "--repo", str(repo))
    assert cleaned.returncode == 0, cleaned.stderr
    assert not (repo / ".worktrees" / second).exists()


# --- git.commit_prefix and git.worktree_dir ------------------------------------------------------------


def test_commit_prefix_and_worktree_dir_everywhere(repo: Path, isolated_env: Path) -> None:
    (isolated_env / "config.yaml").write_text('git:\n  commit_prefix: "wip:"\n  worktree_dir: ".agents"\n')
    cmd = "sh -c 'echo \"$AMPSM_PROMPT\" >> notes.txt'"
    out = run_cli("new", "--repo", str(repo), "--name", "knobs", "--agent", "command", "--agent-cmd", cmd, "--json")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    wt = Path(s["worktree_path"])
    assert wt == repo / ".agents" / s["id"] and wt.is_dir() and not (repo / ".worktrees").exists()
    assert "/.agents/" in (repo / ".git" / "info" / "exclude").read_text()
    for prompt in ("first", "second"):
        it = run_cli("iterate", s["id"], "--prompt", prompt, "--json")
        assert it.returncode == 0, it.stderr
    subjects = git(wt, "log", "--format=%s", "main..HEAD").splitlines()
    assert len(subjects) == 2 and all(x.startswith("wip: ") for x in subjects)
    squashed = run_cli("squash", s["id"], "-m", "notes: first and second")
    assert squashed.returncode == 0, squashed.stderr
    assert git(wt, "log", "--format=%s", "main..HEAD").splitlines() == ["notes: first and second"]
    merged = run_cli("merge", s["id"], "--keep-worktree")
    assert merged.returncode == 0, merged.stderr
    assert (repo / "notes.txt").read_text() == "first\nsecond\n"
    # the merged (done) session's worktree under .agents is found and removed by clean-environment
    report = json.loads(run_cli("clean-environment", "--repo", str(repo), "--dry-run", "--json").stdout)
    assert [o["path"] for o in report["orphans"] if o["path"]] == [str(wt)]
    assert run_cli("clean-environment", "--repo", str(repo), "--yes").returncode == 0
    assert not wt.exists() and git(repo, "status", "--porcelain") == ""
