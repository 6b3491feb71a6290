"""Acceptance: real CLI, real git repos, the real session engine, real agent processes.

The `command` agent runs `probe.py`, which records its own start and end (so the peak of alive
agents is measured from the agents themselves) and makes a real file edit that gets committed.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAKES, git, run_cli
from tests.test_batch_file import make_repo
from tests.test_batch_scheduler import peak_alive, started_names
from tests.test_notify_webhook import Receiver, dead_url

pytestmark = pytest.mark.slow

PROBE = textwrap.dedent(
    """
    import os, sys, time
    log, name, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])
    def mark(what):
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, f"{what} {time.monotonic_ns()} {name} {os.getpid()}\\n".encode())
        os.close(fd)
    mark("start")
    time.sleep(hold)
    with open(name + ".txt", "a") as fh:
        fh.write("done by the probe\\n")
    mark("end")
    """
)


def workspace(tmp: Path, repos: int, items: int, *, hold: float, concurrency: int, extra: str = "") -> Path:
    ws = tmp / "ws"
    for r in range(repos):
        make_repo(ws / f"repo{r}")
    probe = tmp / "probe.py"
    probe.write_text(PROBE)
    log = tmp / "alive.log"
    lines = ["name: acceptance", "repos:", *[f"  - path: repo{r}" for r in range(repos)], "items:"]
    for i in range(items):
        lines += [
            f"  - name: item{i}",
            f"    prompt: make item{i}",
            "    agent: command",
            f"    agentCmd: {sys.executable} {probe} {log} item{i} {hold}",
            f"    script: test -f item{i}.txt",
        ]
    lines.append(f"concurrency: {concurrency}")
    f = ws / "batch.yaml"
    f.write_text("\n".join(lines) + "\n" + extra)
    return f


def db(home: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(home / "sessions.db")
    conn.row_factory = sqlite3.Row
    return conn


def amp_branches(repo: Path) -> list[str]:
    out = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/amp/")
    return [b for b in out.splitlines() if b]


def worktrees(repo: Path) -> list[str]:
    out = git(repo, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")][1:]


def test_three_repos_by_four_items_concurrency_three(tmp_path: Path, isolated_env: Path) -> None:
    f = workspace(tmp_path, 3, 4, hold=0.4, concurrency=3)
    out = run_cli("batch", "start", "--file", str(f), "--json", timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["batch"]["status"] == "done" and result["counts"] == {"succeeded": 12}

    peak = peak_alive(tmp_path / "alive.log")
    print(f"peak alive agents: {peak}")
    assert 1 <= peak <= 3  # a real bound: never more agents alive than the concurrency, and some ran
    assert len(started_names(tmp_path / "alive.log")) == 12

    with db(isolated_env) as conn:
        sessions = [dict(r) for r in conn.execute("SELECT * FROM sessions")]
        items = [dict(r) for r in conn.execute("SELECT * FROM batch_items ORDER BY ordinal")]
    assert len(sessions) == 12 and len(items) == 12
    assert {s["batch_item_id"] for s in sessions} == {i["id"] for i in items}
    assert {s["id"] for s in sessions} == {i["session_id"] for i in items}
    branches = []
    for r in range(3):
        repo = f.parent / f"repo{r}"
        mine = amp_branches(repo)
        assert len(mine) == 4
        for b in mine:  # each branch has the agent's commit with its file
            assert git(repo, "rev-list", "--count", f"main..{b}") == "1"
        branches += [(f"repo{r}", b) for b in mine]
        assert git(repo, "status", "--porcelain") == ""  # the main checkout is untouched
    assert len(set(branches)) == 12  # 12 (repo, branch) pairs

    batch_id = result["batch"]["id"]
    status = json.loads(run_cli("batch", "status", batch_id, "--json").stdout)
    exp = run_cli("batch", "export", batch_id, "--format", "csv", "--out", str(tmp_path / "out"), "--json")
    assert exp.returncode == 0, exp.stderr
    with open(json.loads(exp.stdout)["file"], newline="") as fh:
        exported = list(csv.DictReader(fh))
    assert len(exported) == 12
    for row, item in zip(exported, status["items"], strict=True):
        assert row["item_id"] == item["id"] and row["status"] == item["status"] == "succeeded"
        assert row["session_id"] == item["session_id"] and row["branch"] == item["branch"]
        assert row["iterations"] == str(item["iterations"]) == "1"
    assert sorted((Path(r["repo_path"]).name, r["branch"]) for r in exported) == sorted(branches)
    jl = run_cli("batch", "export", batch_id, "--format", "jsonl", "--out", str(tmp_path / "out"), "--json")
    rows = [json.loads(x) for x in Path(json.loads(jl.stdout)["file"]).read_text().splitlines()]
    assert [(r["item_id"], r["branch"]) for r in rows] == [(r["item_id"], r["branch"]) for r in exported]


def test_fake_amp_tokens_in_status_export_and_usage(tmp_path: Path, isolated_env: Path) -> None:
    ws = tmp_path / "ws"
    for r in range(2):
        make_repo(ws / f"repo{r}")
    f = ws / "batch.yaml"
    f.write_text(
        "name: amp batch\nrepos:\n  - path: repo0\n  - path: repo1\nitems:\n"
        "  - name: a\n    prompt: say hi\n    script: test -f hello.txt\n"
        "  - name: b\n    prompt: say hi again\nconcurrency: 2\n"
    )
    env = {"PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}", "AMP_API_KEY": "test-key-123456"}
    out = run_cli("batch", "start", "--file", str(f), "--json", env=env, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    result = json.loads(out.stdout)
    assert result["counts"] == {"succeeded": 4}
    assert [i["input_tokens"] for i in result["items"]] == [2700] * 4
    assert [i["output_tokens"] for i in result["items"]] == [65] * 4
    with db(isolated_env) as conn:
        stored = [dict(r) for r in conn.execute("SELECT * FROM iterations")]
    usage = json.loads(run_cli("usage", "--json").stdout)["total"]
    assert usage["input_tokens"] == sum(r["input_tokens"] for r in stored) == 4 * 2700
    assert usage["iterations"] == 4
    exp = run_cli("export", "--format", "jsonl", "--out", str(tmp_path / "all.jsonl"), "--json")
    counts = json.loads(exp.stdout)["counts"]
    assert counts["sessions"] == 4 and counts["iterations"] == 4


def _wait_for(cond: Any, what: str, proc: subprocess.Popen[str] | None = None, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the batch process ended early ({proc.returncode}) waiting for {what}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _counts(home: Path) -> dict[str, int]:
    try:
        with db(home) as conn:
            return {r[0]: r[1] for r in conn.execute("SELECT status, COUNT(*) FROM batch_items GROUP BY status")}
    except sqlite3.OperationalError:
        return {}


def _start(f: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ampsm_tui", "batch", "start", "--file", str(f)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_then_resume_finishes_without_redoing_or_orphans(tmp_path: Path, isolated_env: Path) -> None:
    f = workspace(tmp_path, 2, 4, hold=1.0, concurrency=2)
    proc = _start(f)
    try:
        _wait_for(
            lambda: _counts(isolated_env).get("succeeded", 0) >= 2 and _counts(isolated_env).get("running", 0) >= 1,
            "progress",
            proc,
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with db(isolated_env) as conn:
        finished = {
            r["name"] + "@" + Path(r["repo_path"]).name
            for r in conn.execute("SELECT * FROM batch_items WHERE status = 'succeeded'")
        }
        batch_id = conn.execute("SELECT id FROM batch_runs").fetchone()[0]
    listed = json.loads(run_cli("batch", "list", "--json").stdout)
    assert listed[0]["stalled"] is True

    out = run_cli("batch", "resume", batch_id, "--json", timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    result = json.loads(out.stdout)
    assert result["batch"]["status"] == "done" and result["counts"] == {"succeeded": 8}
    with db(isolated_env) as conn:
        sessions = [dict(r) for r in conn.execute("SELECT * FROM sessions")]
        iters = {r[0]: r[1] for r in conn.execute("SELECT session_id, COUNT(*) FROM iterations GROUP BY session_id")}
        items = [dict(r) for r in conn.execute("SELECT * FROM batch_items")]
    by_item = {i["id"]: i for i in items}
    for s in sessions:  # finished items kept their single iteration: they were not redone
        item = by_item[s["batch_item_id"]]
        if f"{item['name']}@{Path(item['repo_path']).name}" in finished:
            assert iters[s["id"]] == 1
    assert len(sessions) == 8  # one session per item, even for the ones killed mid-run
    for r in range(2):
        repo = f.parent / f"repo{r}"
        trees = worktrees(repo)
        expected = sorted(s["worktree_path"] for s in sessions if Path(s["repo_path"]).name == f"repo{r}")
        assert sorted(trees) == expected  # no orphaned worktree
        assert len(amp_branches(repo)) == 4
        for s in sessions:
            if Path(s["repo_path"]).name == f"repo{r}":
                assert git(repo, "status", "--porcelain") == ""
                assert git(Path(s["worktree_path"]), "status", "--porcelain") == ""


def test_sigint_aborts_cleanly_and_resume_finishes(tmp_path: Path, isolated_env: Path) -> None:
    f = workspace(tmp_path, 1, 4, hold=30.0, concurrency=2)
    proc = _start(f)
    try:
        _wait_for(
            lambda: (
                _counts(isolated_env).get("running", 0) == 2
                and (tmp_path / "alive.log").exists()
                and len(started_names(tmp_path / "alive.log")) == 2
            ),
            "two running agents",
            proc,
        )
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    counts = _counts(isolated_env)
    assert counts == {"aborted": 2, "pending": 2}
    with db(isolated_env) as conn:
        assert conn.execute("SELECT status FROM batch_runs").fetchone()[0] == "aborted"
        statuses = [r[0] for r in conn.execute("SELECT status FROM sessions")]
        batch_id = conn.execute("SELECT id FROM batch_runs").fetchone()[0]
    assert "running" not in statuses
    # the agents were terminated: every started probe is gone
    for line in (tmp_path / "alive.log").read_text().splitlines():
        pid = int(line.split()[3])
        assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    # resume with a fast probe: the file says hold=30, so the test rewrites the stored command
    with db(isolated_env) as conn:
        conn.execute("UPDATE batch_items SET agent_cmd = replace(agent_cmd, ' 30.0', ' 0.1')")
        conn.execute("UPDATE sessions SET agent_cmd = replace(agent_cmd, ' 30.0', ' 0.1')")
    out = run_cli("batch", "resume", batch_id, "--json", timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    assert json.loads(out.stdout)["counts"] == {"succeeded": 4}


def test_webhook_gets_batch_finished_and_a_dead_one_does_not_fail_the_batch(tmp_path: Path, isolated_env: Path) -> None:
    with Receiver() as rx:
        (isolated_env / "config.yaml").write_text(
            f"notifications:\n  webhook:\n    enabled: true\n    url: {dead_url()}\n    retries: 1\n    timeout: 2s\n"
        )
        f = workspace(tmp_path, 1, 2, hold=0.05, concurrency=2, extra=f"notifications:\n  webhook: {rx.url}\n")
        out = run_cli("batch", "start", "--file", str(f), "--json", timeout=300)
        assert out.returncode == 0, out.stderr + out.stdout
        assert json.loads(out.stdout)["batch"]["status"] == "done"
    finished = [b for b in rx.bodies if b["event"] == "batch.finished"]
    assert len(finished) == 1
    assert finished[0]["succeeded"] == 2 and finished[0]["total"] == 2 and finished[0]["status"] == "done"
    log = (isolated_env / "logs" / "ampsm.log").read_text()
    assert "notification to webhook" in log and "failed" in log


def test_batch_abort_from_another_process_stops_the_owner(tmp_path: Path, isolated_env: Path) -> None:
    f = workspace(tmp_path, 1, 3, hold=30.0, concurrency=2)
    proc = _start(f)
    try:
        _wait_for(lambda: _counts(isolated_env).get("running", 0) == 2, "two running items", proc)
        with db(isolated_env) as conn:
            batch_id = conn.execute("SELECT id FROM batch_runs").fetchone()[0]
        out = run_cli("batch", "abort", batch_id, "--json")
        assert out.returncode == 0, out.stderr
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert _counts(isolated_env) == {"aborted": 2, "pending": 1}
    with db(isolated_env) as conn:
        assert conn.execute("SELECT status FROM batch_runs").fetchone()[0] == "aborted"
        assert "running" not in [r[0] for r in conn.execute("SELECT status FROM sessions")]
