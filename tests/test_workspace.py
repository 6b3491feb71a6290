"""Issue 18, ready worktrees: `.worktreeinclude`, setup/teardown scripts with their logs, and per-session
env with disjoint port blocks. Through the real CLI, real git, the real DB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import git, run_cli


def new(repo: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("new", "--repo", str(repo), "--name", "ready", "--agent", "command", "--agent-cmd", "true", *extra)


def test_iterate_after_a_failed_setup_runs_the_setup_again_first(
    repo: Path, isolated_env: Path, tmp_path: Path
) -> None:
    """The agent never starts in a worktree whose setup failed: the next `iterate` runs the setup
    again; failing again is E004 with nothing run, passing clears the error and the turn runs."""
    fixed = tmp_path / "fixed"
    out = new(repo, "--setup", f'test -f "{fixed}" || {{ echo "still broken" >&2; exit 3; }}; echo ran >> .setup-ran')
    assert out.returncode != 0 and "E004: setup script failed" in out.stderr
    sid = json.loads(run_cli("list", "--json").stdout)[0]["id"]

    again = run_cli("iterate", sid, "--prompt", "go")
    assert again.returncode != 0
    assert "E004: setup script failed again for" in again.stderr and "(exit 3)" in again.stderr
    assert "nothing was run" in again.stderr and "still broken" in again.stderr  # the log's tail
    data = json.loads(run_cli("status", sid, "--json").stdout)
    assert data["session"]["status"] == "error" and data["iterations"] == []

    fixed.write_text("yes\n")
    ran = run_cli("iterate", sid, "--prompt", "go", "--json")
    assert ran.returncode == 0, ran.stderr
    data = json.loads(run_cli("status", sid, "--json").stdout)
    assert len(data["iterations"]) == 1 and data["session"]["last_error"] is None
    assert (Path(data["session"]["worktree_path"]) / ".setup-ran").read_text() == "ran\n"
    assert "[exit 0]" in Path(data["workspace"]["setup_log"]).read_text()


def test_worktreeinclude_copies_env_and_links_large_folders(repo: Path, isolated_env: Path) -> None:
    (repo / ".gitignore").write_text(".env\nnode_modules/\nsecret.local\nconfig/local.yaml\n")
    (repo / ".worktreeinclude").write_text("# copied into every worktree\n.env\nnode_modules/\nconfig/*.yaml\n")
    (repo / "config").mkdir()
    (repo / "config" / "base.yaml").write_text("tracked: true\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "ignore rules")
    (repo / ".env").write_text("DATABASE_URL=postgres://localhost/dev\n")
    (repo / "config" / "local.yaml").write_text("debug: true\n")
    (repo / "config" / "base.yaml").write_text("tracked: but changed in the main checkout\n")
    (repo / "secret.local").write_text("not listed in .worktreeinclude\n")
    (repo / "node_modules" / "left-pad").mkdir(parents=True)
    (repo / "node_modules" / "left-pad" / "index.js").write_text("x" * 200_000)
    (isolated_env / "config.yaml").write_text("workspace:\n  link_threshold_mb: 0.1\n")

    out = new(repo, "--json")
    assert out.returncode == 0, out.stderr
    wt = Path(json.loads(out.stdout)["worktree_path"])
    assert (wt / ".env").read_text() == "DATABASE_URL=postgres://localhost/dev\n"
    assert not (wt / ".env").is_symlink()
    assert (wt / "config" / "local.yaml").read_text() == "debug: true\n"
    assert (wt / "config" / "base.yaml").read_text() == "tracked: true\n"  # tracked: the branch's version
    assert not (wt / "secret.local").exists()  # ignored, but not asked for
    assert (wt / "node_modules").is_symlink()  # larger than the threshold: linked, not copied
    assert (wt / "node_modules" / "left-pad" / "index.js").stat().st_size == 200_000
    assert git(wt, "status", "--porcelain") == ""  # nothing of it shows up as a change
    assert not (repo / ".worktrees" / ".env").exists()


def test_failing_setup_script_shows_its_log_and_the_session_is_error(repo: Path, tmp_path: Path) -> None:
    setup = repo / ".ampsm" / "setup"
    setup.parent.mkdir()
    setup.write_text(
        '#!/bin/sh\necho "installing for $AMPSM_SESSION_ID on port $AMPSM_PORT ($AMPSM_PORTS) in $AMPSM_WORKTREE"\n'
        'echo "npm ERR! missing script: build" >&2\nexit 3\n'
    )
    setup.chmod(0o755)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "setup script")

    out = new(repo)
    assert out.returncode != 0
    assert "E004: setup script failed" in out.stderr and "npm ERR! missing script: build" in out.stderr
    sid = json.loads(run_cli("list", "--json").stdout)[0]["id"]
    status = run_cli("status", sid)
    assert status.returncode == 0
    assert "error" in status.stdout and "setup log" in status.stdout
    assert "npm ERR! missing script: build" in status.stdout
    data = json.loads(run_cli("status", sid, "--json").stdout)
    assert data["session"]["status"] == "error" and "setup script failed (exit 3)" in data["session"]["last_error"]
    log = Path(data["workspace"]["setup_log"]).read_text()
    port = data["workspace"]["ports"][0]
    assert f"installing for {sid} on port {port} ({port}-{port + 3}) in {data['session']['worktree_path']}" in log
    assert "[exit 3]" in log

    # a per-session setup overrides the repo's, and a passing one leaves the session idle
    ok = new(repo, "--setup", "echo ready > .setup-done", "--json")
    assert ok.returncode == 0, ok.stderr
    made = json.loads(ok.stdout)
    assert made["status"] == "idle" and (Path(made["worktree_path"]) / ".setup-done").exists()

    # teardown runs before the worktree is removed, with the session's env
    marker = tmp_path / "teardown.txt"
    teardown = repo / ".ampsm" / "teardown"
    teardown.write_text(f'#!/bin/sh\necho "bye $AMPSM_SESSION_ID $AMPSM_PORT" > {marker}\n')
    teardown.chmod(0o755)
    assert run_cli("archive", made["id"], "--yes").returncode == 0
    assert marker.read_text().startswith(f"bye {made['id']} ")


AGENT_ENV = "sh -c 'echo $AMPSM_SESSION_ID $AMPSM_PORT $AMPSM_PORT_1 $AMPSM_WORKTREE > agent-env.txt'"
SCRIPT_ENV = "echo $AMPSM_SESSION_ID $AMPSM_PORT $AMPSM_PORT_1 $AMPSM_WORKTREE > test-env.txt"


def test_eight_concurrent_sessions_get_eight_disjoint_port_blocks(repo: Path, isolated_env: Path) -> None:
    (isolated_env / "config.yaml").write_text("workspace:\n  port_range: '42000-42099'\n  ports_per_session: 5\n")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ampsm_tui",
                "new",
                "--repo",
                str(repo),
                "--name",
                f"par {i}",
                "--agent",
                "command",
                "--agent-cmd",
                AGENT_ENV,
                "--script",
                SCRIPT_ENV,
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for i in range(8)
    ]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        ids.append(json.loads(out)["id"])
    blocks = {}
    for sid in ids:
        ws = json.loads(run_cli("status", sid, "--json").stdout)["workspace"]
        assert len(ws["ports"]) == 5 and ws["env"]["AMPSM_PORT"] == str(ws["ports"][0])
        assert ws["env"]["AMPSM_PORT_4"] == str(ws["ports"][4])
        blocks[sid] = set(ws["ports"])
    every = [p for b in blocks.values() for p in b]
    assert len(every) == len(set(every)) == 40  # eight blocks, no port shared
    assert all(42000 <= p <= 42099 for p in every)

    # the agent and the test script see the same env
    sid = ids[0]
    done = run_cli("iterate", sid, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(run_cli("status", sid, "--json").stdout)
    wt, ports = Path(data["session"]["worktree_path"]), data["workspace"]["ports"]
    expected = f"{sid} {ports[0]} {ports[1]} {wt}\n"
    assert (wt / "agent-env.txt").read_text() == expected
    assert (wt / "test-env.txt").read_text() == expected

    # archiving releases the block; a new session may then reuse it, never while it is held
    first = sorted(blocks[ids[0]])
    assert run_cli("archive", ids[0], "--yes").returncode == 0
    assert json.loads(run_cli("status", ids[0], "--json").stdout)["workspace"]["ports"] == []
    again = new(repo, "--json")
    assert again.returncode == 0, again.stderr
    ports = json.loads(run_cli("status", json.loads(again.stdout)["id"], "--json").stdout)["workspace"]["ports"]
    assert ports == first


def test_batch_item_setup_runs_per_item_and_a_failure_is_an_error(tmp_path: Path, isolated_env: Path) -> None:
    repo = tmp_path / "ws" / "app"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    f = tmp_path / "ws" / "batch.yaml"
    f.write_text(
        'name: "setups"\nrepos:\n  - path: "app"\nitems:\n'
        '  - name: "ready"\n    prompt: "p"\n    agent: command\n    agentCmd: "touch done.txt"\n'
        '    setup: "echo prepared > .prepared"\n'
        '  - name: "broken"\n    prompt: "p"\n    agent: command\n    agentCmd: "touch never.txt"\n'
        '    setup: "echo cannot install; exit 5"\n'
    )
    out = run_cli("batch", "start", "--file", str(f), "--json", timeout=300)
    result = json.loads(out.stdout)
    assert result["counts"] == {"succeeded": 1, "error": 1}, out.stdout
    sessions = {s["name"]: s for s in json.loads(run_cli("list", "--json").stdout)}
    assert (
        sessions["broken"]["status"] == "error" and "setup script failed (exit 5)" in sessions["broken"]["last_error"]
    )
    assert not (Path(sessions["broken"]["worktree_path"]) / "never.txt").exists()  # the agent never ran
    assert (Path(sessions["ready"]["worktree_path"]) / ".prepared").read_text() == "prepared\n"
    status = run_cli("status", sessions["broken"]["id"])
    assert "cannot install" in status.stdout
