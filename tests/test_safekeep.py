"""Issue 18, never lose work: archive → restore exactly, every removal path keeps unmerged work,
archive list / gc, and a kill -9 mid-turn loses at most one checkpoint interval. All through the
real CLI on real repositories."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import git, run_cli


def new_session(repo: Path, *extra: str, agent_cmd: str = "true") -> dict[str, str]:
    out = run_cli(
        "new", "--repo", str(repo), "--name", "keep", "--agent", "command", "--agent-cmd", agent_cmd, *extra, "--json"
    )
    assert out.returncode == 0, out.stderr
    data: dict[str, str] = json.loads(out.stdout)
    return data


def worktree_state(wt: Path) -> dict[str, object]:
    """Everything a user would notice in a worktree: HEAD, index, status, every file with its bytes
    and executable bit (untracked ones included; .git excluded)."""
    files = {}
    for p in sorted(wt.rglob("*")):
        if ".git" in p.relative_to(wt).parts or not p.is_file():
            continue
        files[p.relative_to(wt).as_posix()] = (p.read_bytes(), os.access(p, os.X_OK))
    return {
        "head": git(wt, "rev-parse", "HEAD"),
        "branch": git(wt, "symbolic-ref", "HEAD"),
        "index": git(wt, "ls-files", "-s"),
        "status": git(wt, "status", "--porcelain=v1", "--untracked-files=all"),
        "files": files,
    }


def test_archive_with_uncommitted_and_untracked_then_restore_is_identical(repo: Path) -> None:
    s = new_session(repo)
    wt = Path(s["worktree_path"])
    (wt / "feature.py").write_text("committed on the branch\n")
    git(wt, "add", "feature.py")
    git(wt, "commit", "-q", "-m", "unmerged work")  # a commit found on no other branch
    (wt / "app.py").write_text("def add(a, b):\n    return a + b + 0  # staged\n")
    git(wt, "add", "app.py")
    (wt / "app.py").write_text("def add(a, b):\n    return b + a  # staged, then changed again\n")
    (wt / "README.md").unlink()  # a deletion not staged
    (wt / "notes" / "deep").mkdir(parents=True)
    (wt / "notes" / "deep" / "todo.txt").write_text("untracked\n")
    (wt / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (wt / "run.sh").chmod(0o755)
    before = worktree_state(wt)
    tip = before["head"]

    out = run_cli("archive", s["id"], "--yes")
    assert out.returncode == 0, out.stderr
    assert "refs/ampsm/archive/" + s["id"] + "/" in out.stdout and f"ampsm restore {s['id']}" in out.stdout
    assert "kept uncommitted changes and unmerged commits" in out.stdout
    assert not wt.exists()
    assert git(repo, "branch", "--list", s["branch"]) == ""
    listed = json.loads(run_cli("archive", "list", "--json").stdout)
    kept = [a for r in listed for a in r["archives"] if a["session_id"] == s["id"]]
    assert len(kept) == 1 and kept[0]["tip"] == tip and kept[0]["snapshot"] == "uncommitted"
    assert kept[0]["size_bytes"] > 0
    text = run_cli("archive", "list")
    assert s["id"] in text.stdout and "ampsm restore" in text.stdout

    restored = run_cli("restore", s["id"])
    assert restored.returncode == 0, restored.stderr
    assert worktree_state(wt) == before  # tree, index, untracked files, modes, branch tip
    status = json.loads(run_cli("status", s["id"], "--json").stdout)
    assert status["session"]["status"] == "idle"
    assert run_cli("restore", s["id"]).returncode != 0  # already there: refused, nothing touched
    assert worktree_state(wt) == before


def test_every_removal_path_keeps_unmerged_work(repo: Path, isolated_env: Path) -> None:
    # merge (worktree removed after): an untracked file left behind is kept, and the output says so
    s = new_session(repo)
    wt = Path(s["worktree_path"])
    (wt / "done.py").write_text("merged\n")
    git(wt, "add", "done.py")
    git(wt, "commit", "-q", "-m", "work")
    (wt / "scratch.txt").write_text("never committed\n")
    merged = run_cli("merge", s["id"])
    assert merged.returncode == 0, merged.stderr
    assert "kept uncommitted changes at" in merged.stdout and f"ampsm restore {s['id']}" in merged.stdout
    assert not wt.exists()
    ref = git(repo, "for-each-ref", "--format=%(refname)", f"refs/ampsm/archive/{s['id']}/")
    assert git(repo, "show", f"{ref}:scratch.txt") == "never committed"

    # archive of a session with commits only: the tip is kept
    a = new_session(repo)
    awt = Path(a["worktree_path"])
    (awt / "x.txt").write_text("x\n")
    git(awt, "add", "x.txt")
    git(awt, "commit", "-q", "-m", "x")
    tip = git(awt, "rev-parse", "HEAD")
    archived = run_cli("archive", a["id"], "--yes")
    assert archived.returncode == 0 and "kept unmerged commits at" in archived.stdout
    aref = git(repo, "for-each-ref", "--format=%(refname)", f"refs/ampsm/archive/{a['id']}/")
    assert git(repo, "rev-parse", aref) == tip

    # a `new` that fails half way (no free ports): nothing is left behind, no row, no branch
    (isolated_env / "config.yaml").write_text("workspace:\n  port_range: '41000-41001'\n  ports_per_session: 4\n")
    before_branches = git(repo, "branch", "--list", "amp/*")
    failed = run_cli("new", "--repo", str(repo), "--name", "nope", "--agent", "command", "--agent-cmd", "true")
    assert failed.returncode != 0 and "E004" in failed.stderr and "port" in failed.stderr
    assert git(repo, "branch", "--list", "amp/*") == before_branches
    assert json.loads(run_cli("list", "--json").stdout)[0]["id"] != "nope"
    assert len([p for p in (repo / ".worktrees").iterdir()]) == 0

    # gc: a dry run first, with sizes; only archives older than the cut-off go, and only with --apply
    dry = run_cli("gc", "--older-than", "30d")
    assert dry.returncode == 0 and "would prune 0 ref(s)" in dry.stdout
    everything = json.loads(run_cli("gc", "--older-than", "0s", "--json").stdout)
    assert everything["dry_run"] and sum(len(r["pruned"]) for r in everything["repos"]) == 2
    assert everything["bytes"] > 0
    assert git(repo, "for-each-ref", "refs/ampsm/archive/").count("\n") == 1  # still both
    applied = run_cli("gc", "--older-than", "0s", "--apply")
    assert applied.returncode == 0 and "pruned 2 ref(s)" in applied.stdout
    assert git(repo, "for-each-ref", "refs/ampsm/archive/") == ""


AGENT = """\
import os, sys, time
pid_file, fast = sys.argv[1], sys.argv[2]
open(pid_file, "w").write(str(os.getpid()))
if os.path.exists(fast):
    open("resumed.txt", "w").write("resumed\\n")
    sys.exit(0)
i = 0
while True:
    i += 1
    with open(f"out-{i:05d}.txt", "w") as fh:
        fh.write(repr(time.time()))
    time.sleep(0.05)
"""


def test_kill_9_mid_turn_then_resume_loses_at_most_one_checkpoint_interval(
    repo: Path, tmp_path: Path, isolated_env: Path
) -> None:
    interval = 1.0
    (isolated_env / "config.yaml").write_text(f"workspace:\n  checkpoint_interval: {interval}\n")
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    pid_file, fast = tmp_path / "agent.pid", tmp_path / "fast"
    s = new_session(repo, agent_cmd=f"{sys.executable} {agent} {pid_file} {fast}")
    wt = Path(s["worktree_path"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "ampsm_tui", "iterate", s["id"]],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ref = f"refs/ampsm/checkpoints/{s['id']}"
    deadline = time.monotonic() + 60
    taken = 0
    last = ""
    while taken < 3 and time.monotonic() < deadline:  # a few checkpoints into the turn
        now = subprocess.run(["git", "rev-parse", "-q", "--verify", ref], cwd=repo, capture_output=True, text=True)
        if now.stdout.strip() and now.stdout.strip() != last:
            taken, last = taken + 1, now.stdout.strip()
        time.sleep(0.05)
    assert taken == 3, "no checkpoints during the turn"
    os.killpg(proc.pid, signal.SIGKILL)  # ampsm, without a chance to record anything
    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # and the agent (its own process group)
    killed_at = time.time()
    proc.wait()
    written = sorted(wt.glob("out-*.txt"))
    assert written

    # the worst case: the worktree is lost as well (peers' "worktree removed between messages")
    subprocess.run(["rm", "-rf", str(wt)], check=True)
    status = json.loads(run_cli("status", s["id"], "--json").stdout)["session"]
    assert status["status"] == "interrupted"
    missing = run_cli("iterate", s["id"])
    assert missing.returncode != 0 and f"ampsm restore {s['id']}" in missing.stderr
    restored = run_cli("restore", s["id"])
    assert restored.returncode == 0, restored.stderr
    back = sorted(wt.glob("out-*.txt"))
    assert back, "nothing came back from the checkpoint"
    newest = max(float(p.read_text()) for p in back)
    lost = killed_at - newest
    # one interval, plus the time a snapshot itself takes on a loaded machine
    assert lost <= interval + 1.0, f"lost {lost:.2f}s of work with checkpoints every {interval}s"
    assert {p.name for p in back} <= {p.name for p in written}

    fast.write_text("")
    resumed = run_cli("iterate", s["id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    it = json.loads(resumed.stdout)
    assert it["commit_sha"]
    committed = git(wt, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert "resumed.txt" in committed and {p.name for p in back} <= set(committed)
    assert git(repo, "for-each-ref", "refs/ampsm/checkpoints/") == ""  # superseded by the commit


def test_restore_runs_the_setup_of_the_new_worktree(repo: Path, tmp_path: Path) -> None:
    """A restored worktree is a new worktree: its setup runs; a failing one keeps the restored work,
    leaves the session `error` and fails the command, and the next iterate runs the setup again."""
    ran, broken = tmp_path / "setup-ran", tmp_path / "broken"
    setup = f'test ! -f "{broken}" || exit 4; echo "$AMPSM_WORKTREE" >> "{ran}"'
    s = new_session(repo, "--setup", setup)
    wt = Path(s["worktree_path"])
    assert ran.read_text() == f"{wt}\n"
    (wt / "work.txt").write_text("unmerged\n")
    assert run_cli("archive", s["id"], "--yes").returncode == 0

    broken.write_text("")
    out = run_cli("restore", s["id"], "--json")
    assert out.returncode == 1
    assert "E004: setup script failed (exit 4)" in out.stderr and "the work is restored" in out.stderr
    assert "setup script failed" in json.loads(out.stdout)["setup_error"]
    assert (wt / "work.txt").read_text() == "unmerged\n"  # the work is back all the same
    assert json.loads(run_cli("status", s["id"], "--json").stdout)["session"]["status"] == "error"
    assert "setup script failed again" in run_cli("iterate", s["id"]).stderr

    broken.unlink()
    assert run_cli("iterate", s["id"]).returncode == 0  # the setup passes: the turn runs
    assert ran.read_text() == f"{wt}\n{wt}\n"

    # a passing setup on restore: the session is idle at once
    assert run_cli("archive", s["id"], "--yes").returncode == 0
    again = run_cli("restore", s["id"])
    assert again.returncode == 0, again.stderr
    assert ran.read_text() == f"{wt}\n{wt}\n{wt}\n"
    assert json.loads(run_cli("status", s["id"], "--json").stdout)["session"]["status"] == "idle"
