"""A key pasted into a prompt or a session name, or echoed by the agent or the test script, is never
stored or printed unredacted: the DB (sessions.prompt, iterations.prompt, test logs), raw streams,
the log file, backups, exports, batch exports, command output and commit messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import git, run_cli

KEY = "ampk0x7Q2vN9rT4mW8sL1dF6hJ3"  # AMP_API_KEY's value: no known shape, redacted by value
SHAPED = "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2"  # not in the environment: redacted by shape

AGENT = """
import os, pathlib
print("I was told: " + os.environ["AMPSM_PROMPT"])
print("my env key is " + os.environ.get("AMP_API_KEY", ""))
pathlib.Path("work.txt").write_text("done\\n")
"""


def test_keys_never_stored_or_printed(tmp_path: Path, repo: Path, isolated_env: Path) -> None:
    (tmp_path / "agent.py").write_text(AGENT)
    (tmp_path / "shaped.txt").write_text(SHAPED + "\n")
    env = {"AMP_API_KEY": KEY}
    agent = f"{sys.executable} {tmp_path / 'agent.py'}"
    outputs: list[str] = []

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        out = run_cli(*argv, env=env)
        outputs.extend([out.stdout, out.stderr])
        return out

    out = cli(
        "new", "--repo", str(repo), "--name", f"rotate {SHAPED}", "--prompt", f"use {KEY} and {SHAPED}",
        "--agent", "command", "--agent-cmd", agent, "--script", f"echo leaked $AMP_API_KEY $(cat {tmp_path / 'shaped.txt'}); exit 3",
        "--run", "--stream", "--json",
    )  # fmt: skip
    assert out.returncode == 16, out.stderr  # E006: the script failed (and its log is printed, redacted)
    sid = json.loads(cli("list", "--json").stdout)[0]["id"]
    assert cli("iterate", sid, "--prompt", f"again with {KEY}").returncode == 16
    for argv in (["status", sid, "--json"], ["status", sid], ["metrics", sid, "--json"], ["usage", "--json"]):
        assert cli(*argv).returncode == 0, argv
    assert cli("export", "--format", "jsonl", "--out", str(tmp_path / "exp" / "all.jsonl")).returncode == 0
    assert cli("export", "--format", "csv", "--out", str(tmp_path / "exp" / "csv")).returncode == 0
    assert cli("db", "backup").returncode == 0

    batch = tmp_path / "batch.yaml"
    batch.write_text(
        f"name: keys\nrepos:\n  - path: {repo}\nitems:\n  - name: item {SHAPED}\n    prompt: batch {KEY}\n"
        f"    agent: command\n    agentCmd: {agent}\n"
    )
    assert cli("batch", "start", "--file", str(batch)).returncode == 0
    batch_id = json.loads(cli("batch", "list", "--json").stdout)[0]["id"]
    assert cli("batch", "export", batch_id, "--format", "jsonl", "--out", str(tmp_path / "bexp")).returncode == 0

    # the things that did get written really are there (so the search below searches something)
    with_prompt = json.loads(cli("status", sid, "--json").stdout)
    assert "[REDACTED]" in with_prompt["session"]["prompt"] and "[REDACTED]" in with_prompt["session"]["name"]
    assert with_prompt["iterations"][1]["prompt"] == "again with [REDACTED]"
    assert "leaked [REDACTED] [REDACTED]" in with_prompt["iterations"][0]["test_log"]
    streams = list((isolated_env / "streams").rglob("*.jsonl"))
    assert streams and any("I was told" in p.read_text() for p in streams)

    written = [p for p in isolated_env.rglob("*") if p.is_file()]
    written += [p for p in (tmp_path / "exp").rglob("*") if p.is_file()]
    written += [p for p in (tmp_path / "bexp").rglob("*") if p.is_file()]
    assert any(p.name == "ampsm.log" for p in written) and len(written) > 8
    for secret in (KEY, SHAPED, SHAPED[:24]):
        for p in written:
            assert secret.encode() not in p.read_bytes(), (secret, p)
        for text in outputs:
            assert secret not in text
        assert secret not in git(repo, "log", "--all", "--format=%B%n%D")
        assert secret not in git(repo, "for-each-ref", "--format=%(refname)")


def test_a_key_written_into_a_command_is_refused_not_stored(repo: Path, isolated_env: Path) -> None:
    """A test script or agent command is run again later, so it cannot be stored redacted; a key in
    it (also visible in `ps`) is refused with the fix, and nothing is created."""
    for flag, value in (("--script", f"curl -H 'x-api-key: {SHAPED}' x"), ("--agent-cmd", f"tool --key {KEY}")):
        out = run_cli(
            "new", "--repo", str(repo), "--name", "k", "--agent", "command", "--agent-cmd", "true", flag, value,
            env={"AMP_API_KEY": KEY},
        )  # fmt: skip
        assert out.returncode == 2 and out.stderr.startswith(f"error: {flag} contains"), out.stderr
        assert SHAPED not in out.stderr and KEY not in out.stderr
    assert git(repo, "worktree", "list").count("\n") == 0
    assert json.loads(run_cli("list", "--json").stdout) == []


def test_names_that_merely_contain_sk_dash_are_not_redacted() -> None:
    from ampsm_tui.engine.secrets import redact

    assert redact("task-fix-the-login-page-now") == "task-fix-the-login-page-now"
    assert redact("mask-the-credit-card-numbers") == "mask-the-credit-card-numbers"
    assert redact(f"key {SHAPED}") == "key [REDACTED]"
