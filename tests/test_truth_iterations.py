"""Issue 14: every iteration tells the truth (defects 1-4, 7 and 9), through the real CLI.

Real repositories, the real SQLite file and real processes: the agent is `--agent command` running
`sh -c` scripts that do what a misbehaving agent does (leave a lock, switch branches, outlive ampsm).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, git, run_cli
from tests.conftest import db_rows as rows


def new_session(repo: Path, agent_cmd: str, *extra: str) -> dict[str, str]:
    prompt = [] if "--prompt-file" in extra else ["--prompt", "do it"]
    out = run_cli(
        "new", "--repo", str(repo), "--name", "truth", *prompt, "--agent", "command",
        "--agent-cmd", agent_cmd, "--json", *extra,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data: dict[str, str] = json.loads(out.stdout)
    return data


def no_internal_error(out: subprocess.CompletedProcess[str]) -> None:
    assert "internal error" not in out.stderr and "Traceback" not in out.stderr, out.stderr


# -- 1. a commit that fails is a failure; a worktree mid-rebase is refused -------------------------


def test_iterate_refuses_a_worktree_left_mid_rebase_and_abort_puts_it_back(
    repo: Path, isolated_env: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "agent-ran"
    s = new_session(repo, f"sh -c 'touch {marker}; echo agent-edit >> README.md'")
    wt = Path(s["worktree_path"])
    (wt / "README.md").write_text("# demo\nsession line\n")
    git(wt, "commit", "-qam", "session change")
    (repo / "README.md").write_text("# demo\nmain line\n")
    git(repo, "commit", "-qam", "main change")
    # what a kill during `ampsm rebase` leaves: a rebase stopped in the worktree
    stopped = subprocess.run(["git", "rebase", "main"], cwd=wt, capture_output=True, text=True)
    assert stopped.returncode != 0 and (Path(git(wt, "rev-parse", "--git-dir")) / "rebase-merge").exists()

    out = run_cli("iterate", s["id"])
    no_internal_error(out)
    assert out.returncode == 11, out.stdout + out.stderr
    assert "E001:" in out.stderr and "rebase" in out.stderr and "nothing was run" in out.stderr
    assert f"ampsm abort {s['id']}" in out.stderr and "--continue" in out.stderr
    assert not marker.exists()  # the agent never started
    assert rows(isolated_env, "SELECT COUNT(*) FROM iterations")[0][0] == 0
    assert rows(isolated_env, "SELECT status FROM sessions")[0][0] != "running"

    out = run_cli("abort", s["id"])
    assert out.returncode == 0, out.stderr
    assert not (wt / ".git").is_dir() and not (Path(git(wt, "rev-parse", "--git-dir")) / "rebase-merge").exists()
    assert git(wt, "status", "--porcelain") == ""
    assert git(wt, "log", "-1", "--format=%s") == "session change"


@pytest.mark.parametrize(
    ("sabotage", "code", "status"),
    [
        # a lock left behind in the worktree's git dir (an agent's git killed mid-command)
        ('touch "$(git rev-parse --git-dir)/index.lock"', "E001", 11),
        # a nested `git init` with no commit: git refuses to add it
        ("mkdir nested && git -C nested init -q && touch nested/f", "E001", 11),
        # the agent deletes the worktree's .git file: git must not fall through to the user's checkout
        ("rm -f .git", "E004", 14),
    ],
)
def test_a_failing_commit_fails_the_iteration_with_its_code_and_keeps_the_work(
    repo: Path, isolated_env: Path, sabotage: str, code: str, status: int
) -> None:
    s = new_session(repo, f"sh -c 'echo agent-edit >> app.py; {sabotage}'")
    wt = Path(s["worktree_path"])
    out = run_cli("iterate", s["id"])
    no_internal_error(out)
    assert out.returncode == status, out.stdout + out.stderr
    assert f"{code}:" in out.stderr and "still in the worktree" in out.stderr
    assert "done" not in out.stdout
    (it,) = rows(isolated_env, "SELECT * FROM iterations")
    assert it["status"] == "failed" and it["ended_at"] and it["error"].startswith(code)
    assert it["commit_sha"] is None
    (sess,) = rows(isolated_env, "SELECT * FROM sessions")
    assert sess["status"] == "error" and sess["pid"] is None and sess["agent_pid"] is None
    assert "agent-edit" in (wt / "app.py").read_text()  # the work is where the message says
    assert git(repo, "status", "--porcelain") == ""  # the user's checkout untouched
    assert git(repo, "log", "--oneline").count("\n") == 0


# -- 3. the work must end up on the session branch -----------------------------------------------


def test_commits_made_on_another_branch_are_brought_back_and_merged(repo: Path, isolated_env: Path) -> None:
    s = new_session(
        repo, "sh -c 'git checkout -q -b agent-side && echo side > side.txt && git add side.txt && git commit -qm side'"
    )
    wt = Path(s["worktree_path"])
    out = run_cli("iterate", s["id"])
    assert out.returncode == 0, out.stderr
    assert git(wt, "symbolic-ref", "--short", "HEAD") == s["branch"]
    assert "side" in git(wt, "log", "--format=%s", s["branch"]).splitlines()
    out = run_cli("merge", s["id"])
    assert out.returncode == 0, out.stderr
    assert (repo / "side.txt").read_text() == "side\n"  # the work was merged, not nothing


def test_work_left_on_an_unrelated_branch_fails_with_e004_and_is_never_merged_as_done(
    repo: Path, isolated_env: Path
) -> None:
    s = new_session(
        repo, "sh -c 'git checkout -q --orphan lonely && echo lost > lost.txt && git add -A && git commit -qm lonely'"
    )
    out = run_cli("iterate", s["id"])
    no_internal_error(out)
    assert out.returncode == 14, out.stdout + out.stderr
    assert "E004:" in out.stderr and s["branch"] in out.stderr
    (it,) = rows(isolated_env, "SELECT status, ended_at FROM iterations")
    assert it["status"] == "failed" and it["ended_at"]
    out = run_cli("merge", s["id"])
    assert out.returncode == 14 and "E004:" in out.stderr and s["branch"] in out.stderr
    assert rows(isolated_env, "SELECT status FROM sessions")[0][0] != "done"
    assert not (repo / "lost.txt").exists()


def test_a_deleted_session_branch_fails_the_iteration(repo: Path, isolated_env: Path) -> None:
    s = new_session(repo, "sh -c 'echo edit >> app.py'")
    wt = Path(s["worktree_path"])
    git(wt, "update-ref", "-d", f"refs/heads/{s['branch']}")  # deleted by hand
    out = run_cli("iterate", s["id"])
    no_internal_error(out)
    assert out.returncode == 14, out.stdout + out.stderr
    assert "E004:" in out.stderr and s["branch"] in out.stderr


# -- 4. an agent left behind by a killed ampsm is stopped before another starts -------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2] != "Z"


def test_an_orphaned_agent_is_stopped_before_the_next_iteration_starts(
    repo: Path, isolated_env: Path, tmp_path: Path
) -> None:
    flag, pidfile, beside = tmp_path / "first-run", tmp_path / "agent.pid", tmp_path / "beside"
    flag.touch()
    # "alive" = in /proc and not a zombie (a container's pid 1 may never reap the orphan's remains)
    alive = f'st=$(cut -d")" -f2 /proc/$(cat {pidfile})/stat 2>/dev/null | cut -c2); [ -n "$st" ] && [ "$st" != Z ]'
    script = (
        f"if [ -f {pidfile} ] && {alive}; then touch {beside}; fi; "
        f"if [ -f {flag} ]; then rm {flag}; echo $$ > {pidfile}; echo started; sleep 300; fi; echo second >> app.py"
    )
    s = new_session(repo, script)  # --agent-cmd runs through /bin/sh -c: $$ is the agent ampsm started
    proc = subprocess.Popen(
        [sys.executable, "-m", "ampsm_tui", "iterate", s["id"]],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not pidfile.exists() or not pidfile.read_text().strip():
            assert time.monotonic() < deadline, "the agent did not start"
            time.sleep(0.1)
        agent = int(pidfile.read_text())
        deadline = time.monotonic() + 30
        while rows(isolated_env, "SELECT agent_pid FROM sessions")[0][0] != agent:
            assert time.monotonic() < deadline, "the agent's pid was not recorded"
            time.sleep(0.1)
        (sess,) = rows(isolated_env, "SELECT agent_pid, agent_started_at FROM sessions")
        assert sess["agent_started_at"] is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert _alive(agent)  # its own process group: it outlives ampsm

        out = run_cli("iterate", s["id"], "--prompt", "again")
        assert out.returncode == 0, out.stderr
        assert not _alive(agent)
        assert not beside.exists(), "a second agent ran beside the orphan"
        assert "second" in (Path(s["worktree_path"]) / "app.py").read_text()
        (first, second) = rows(isolated_env, "SELECT status, error FROM iterations ORDER BY number")
        assert first["status"] == "interrupted" and f"process group {agent}" in first["error"]
        assert second["status"] == "completed"
    finally:
        proc.kill()
        if pidfile.exists() and pidfile.read_text().strip():
            try:
                os.killpg(int(pidfile.read_text()), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


# -- 7. long prompts reach the command agent ----------------------------------------------------------


def test_a_one_megabyte_prompt_reaches_the_command_agent_on_stdin_and_in_a_file(
    repo: Path, isolated_env: Path, tmp_path: Path
) -> None:
    prompt = ("please refactor the module carefully\n" * 28000)[:1_000_000]
    (tmp_path / "prompt.txt").write_text(prompt)
    agent = (
        'sh -c \'wc -c < "$AMPSM_PROMPT_FILE" > from_file.txt; wc -c > from_stdin.txt;'
        ' echo "${AMPSM_PROMPT+set}" > env.txt\''
    )
    s = new_session(repo, agent, "--prompt-file", str(tmp_path / "prompt.txt"))
    out = run_cli("iterate", s["id"])
    assert out.returncode == 0, out.stderr
    wt = Path(s["worktree_path"])
    assert int((wt / "from_file.txt").read_text()) == 1_000_000
    assert int((wt / "from_stdin.txt").read_text()) == 1_000_000
    assert (wt / "env.txt").read_text().strip() == ""  # too long for the environment: not set

    # `--prompt -` reads stdin; a short prompt is also in $AMPSM_PROMPT
    s2 = new_session(repo, 'sh -c \'printf %s "$AMPSM_PROMPT" > env.txt; cat "$AMPSM_PROMPT_FILE" > file.txt\'')
    out = run_cli("iterate", s2["id"], "--prompt", "-", input="from stdin, short")
    assert out.returncode == 0, out.stderr
    wt2 = Path(s2["worktree_path"])
    assert (wt2 / "env.txt").read_text() == "from stdin, short"
    assert (wt2 / "file.txt").read_text() == "from stdin, short"
    prompt_files = [p for p in Path("/tmp").glob("ampsm-prompt-*")]
    assert not any(p.read_text() == "from stdin, short" for p in prompt_files if p.is_file())


# -- 9. numbers that make no sense are usage errors ---------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        ("new", "--timeout", "-5"),
        ("new", "--timeout", "0"),
        ("iterate", "--until-green", "-1"),
        ("iterate", "--until-green", "0"),
        ("iterate", "--max-cost", "-1"),
        ("new", "--max-cost", "nan"),
    ],
)
def test_negative_or_zero_limits_are_usage_errors(repo: Path, isolated_env: Path, flags: tuple[str, ...]) -> None:
    command, *rest = flags
    if command == "new":
        args = ["new", "--repo", str(repo), "--name", "n", "--agent", "command", "--agent-cmd", "true", *rest]
    else:
        args = ["iterate", "sess-00000000", *rest]
    out = run_cli(*args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "must be" in out.stderr
    assert not (isolated_env / "sessions.db").exists() or not rows(isolated_env, "SELECT * FROM sessions")
