"""Lessons (../shared/LESSONS.md) that had no test of their own; docs/lessons.md maps all 24."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ampsm_tui.engine.procinfo import pid_alive
from tests.conftest import git, run_cli

CMD = ("--agent", "command")


def _new(repo: Path, cmd: str, *extra: str) -> dict[str, object]:
    out = run_cli("new", "--repo", str(repo), "--name", "lesson", *CMD, "--agent-cmd", cmd, *extra, "--json")
    assert out.returncode == 0, out.stderr
    return dict(json.JSONDecoder().raw_decode(out.stdout)[0])


def test_lesson_1_new_run_and_batch_exit_and_leave_no_child(tmp_path: Path, repo: Path) -> None:
    agent = tmp_path / "agent.py"
    agent.write_text(
        f"import os, pathlib\npathlib.Path({str(tmp_path / 'pids')!r}).open('a').write(f'{{os.getpid()}}\\n')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "ampsm_tui", "new", "--repo", str(repo), "--name", "exit", *CMD,
         "--agent-cmd", f"{sys.executable} {agent}", "--run"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _out, err = proc.communicate(timeout=120)  # a hang guard, not a timing assertion
    assert proc.returncode == 0, err
    sid = json.loads(run_cli("list", "--json").stdout)[0]["id"]
    assert run_cli("iterate", sid, timeout=120).returncode == 0
    batch = tmp_path / "b.yaml"
    batch.write_text(f"name: b\nrepos:\n  - path: {repo}\nitems:\n  - name: i\n    prompt: p\n    agent: command\n"
                     f"    agentCmd: {sys.executable} {agent}\n")  # fmt: skip
    assert run_cli("batch", "start", "--file", str(batch), timeout=120).returncode == 0
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 3 and not any(pid_alive(p) for p in pids)


def test_lesson_6_no_bookkeeping_reaches_the_branch_or_main(tmp_path: Path, repo: Path, isolated_env: Path) -> None:
    before = set(git(repo, "ls-tree", "-r", "--name-only", "main").split())
    s = _new(repo, "sh -c 'echo new > feature.txt'", "--script", "true", "--run")
    assert run_cli("merge", str(s["id"])).returncode == 0
    after = set(git(repo, "ls-tree", "-r", "--name-only", "main").split())
    assert after - before == {"feature.txt"}
    log = git(repo, "log", "--format=%B", "main")
    assert "Amp-Session:" in log  # the trailer names the session; nothing else of ours is committed
    assert git(repo, "status", "--porcelain", "--ignored") == ""  # .worktrees/ is excluded, not ignored


SCRIPT = textwrap.dedent(
    """
    import asyncio, pathlib, sys
    from ampsm_tui.engine.engine import Engine
    async def main(sid, op):
        e = await Engine.open()
        try:
            s = await e.sessions.get(sid)
            call = e.sessions.rebase if op == "rebase" else e.sessions.merge
            r = await call(sid, keep_conflict=True)
            assert not r.ok and r.conflicts == ["f.txt"], r
            where = pathlib.Path(s.worktree_path if op == "rebase" else s.repo_path)
            (where / "f.txt").write_text("resolved\\n")
            await e.sessions.mark_resolved(sid, "f.txt")
            r = await e.sessions.continue_operation(sid)
            print("OK" if r.ok else f"FAILED {r}")
        finally:
            await e.close()
    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


def test_lesson_11_continue_never_waits_on_an_editor(tmp_path: Path, repo: Path) -> None:
    (repo / "f.txt").write_text("base\n")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-q", "-m", "f")
    env = {**os.environ, "GIT_EDITOR": "false", "EDITOR": "vim", "VISUAL": "vim", "GIT_SEQUENCE_EDITOR": "false"}
    for op in ("rebase", "merge"):
        s = _new(repo, f"sh -c 'echo {op} > f.txt'", "--run")
        (repo / "f.txt").write_text(f"main moved for {op}\n")
        git(repo, "commit", "-q", "-am", f"main {op}")
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(s["id"]), op],
            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.stdout.strip() == "OK", out.stdout + out.stderr
    assert git(repo, "status", "--porcelain") == ""


def test_lesson_13_environment_is_never_printed(repo: Path) -> None:
    secret = "zz-not-a-shape-but-a-value-1234567"
    env = {"AMP_API_KEY": secret, "AMPSM_CANARY_VAR": "canary-value-in-env"}
    for argv in (["doctor"], ["doctor", "--json"], ["config", "show"], ["verify-amp"]):
        out = run_cli(*argv, env=env)
        text = out.stdout + out.stderr
        assert secret not in text and "canary-value-in-env" not in text, argv


def test_lesson_22_unpriced_is_never_zero_in_any_output(tmp_path: Path, repo: Path, isolated_env: Path) -> None:
    import sqlite3

    s = _new(repo, "true", "--run")
    with sqlite3.connect(isolated_env / "sessions.db") as conn:  # tokens from an agent without a price
        conn.execute(
            "UPDATE iterations SET input_tokens = 1200, output_tokens = 300, cost_usd = NULL, model = 'mystery-1',"
            " agent = 'gemini' WHERE session_id = ?",
            (s["id"],),
        )
    sid = str(s["id"])
    for argv in (["status", sid], ["metrics", sid], ["usage"], ["usage", "--by", "model"]):
        out = run_cli(*argv)
        assert out.returncode == 0, (argv, out.stderr)
        assert "unpriced" in out.stdout, (argv, out.stdout)
        assert "$0.00" not in out.stdout, (argv, out.stdout)
    status = json.loads(run_cli("status", sid, "--json").stdout)
    assert status["iterations"][0]["cost_usd"] is None
    usage = run_cli("usage", "--json").stdout
    assert '"cost_usd": 0' not in usage.replace("0.0", "0"), usage
    assert run_cli("export", "--format", "jsonl", "--out", str(tmp_path / "e.jsonl")).returncode == 0
    rows = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    its = [r for r in rows if r.get("record") == "iteration"]
    assert its and all(r["cost_usd"] is None for r in its)


def test_lesson_14_one_schema_one_store() -> None:
    """Tables are created only inside the store package (its migrations and schema_version); no
    other module has SQL DDL."""
    root = Path(__file__).resolve().parent.parent / "ampsm_tui"
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "CREATE TABLE" in p.read_text(encoding="utf-8").upper() and p.parent != root / "engine" / "store"
    ]
    assert offenders == []


def test_lesson_16_each_iteration_has_its_own_log_file(repo: Path, isolated_env: Path) -> None:
    s = _new(repo, "sh -c 'echo turn $AMPSM_PROMPT'", "--prompt", "one", "--run")
    assert run_cli("iterate", str(s["id"]), "--prompt", "two").returncode == 0
    its = json.loads(run_cli("status", str(s["id"]), "--json").stdout)["iterations"]
    paths = [Path(i["raw_log_path"]) for i in its]
    assert len(set(paths)) == 2 and all(p.parent.name == s["id"] for p in paths)
    assert "turn one" in paths[0].read_text() and "turn two" not in paths[0].read_text()
    assert "turn two" in paths[1].read_text()
