"""The telemetry switch end to end: with it off, sessions, iterations and commits are recorded but
no token counts and no tool calls; with it on (the control), both are."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import FAKES, git, run_cli
from tests.test_batch_file import make_repo

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("disabled", [False, True])
def test_disable_telemetry_keeps_sessions_and_commits_only(tmp_path: Path, isolated_env: Path, disabled: bool) -> None:
    repo = make_repo(tmp_path / "ws" / "repo")
    f = tmp_path / "ws" / "batch.yaml"
    f.write_text("name: t\nrepos:\n  - path: repo\nitems:\n  - name: hi\n    prompt: say hi\n")
    env = {"PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}", "AMP_API_KEY": "test-key-123456"}
    if disabled:
        env["AMPSM_DISABLE_TELEMETRY"] = "true"
    out = run_cli("batch", "start", "--file", str(f), "--json", env=env, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    assert json.loads(out.stdout)["counts"] == {"succeeded": 1}
    with sqlite3.connect(isolated_env / "sessions.db") as conn:
        sessions = conn.execute("SELECT branch FROM sessions").fetchall()
        its = conn.execute("SELECT input_tokens, output_tokens, commit_sha FROM iterations").fetchall()
        tools = conn.execute("SELECT COUNT(*) FROM tool_calls").fetchone()[0]
    assert len(sessions) == 1 and len(its) == 1
    assert its[0][2] and git(repo, "rev-list", "--count", f"main..{sessions[0][0]}") == "1"
    if disabled:
        assert its[0][0] == 0 and its[0][1] == 0 and tools == 0
    else:
        assert its[0][0] == 2700 and its[0][1] == 65 and tools > 0
