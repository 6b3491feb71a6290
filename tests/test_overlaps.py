"""Overlap warnings (issue 19): two live sessions of one repo editing one file are flagged in
`list`/`status` with the predicted conflict, and before landing. Real git, the command agent, the
real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def _session(repo: Path, name: str, cmd: str) -> str:
    out = run_cli(
        "new", "--repo", str(repo), "--name", name, "--agent", "command", "--agent-cmd", cmd,
        "--prompt", name, "--run", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    return str(json.loads(out.stdout)["id"])


def test_two_live_sessions_editing_one_file_are_flagged(repo: Path) -> None:
    one = _session(repo, "one", "printf 'def add(a, b):\\n    return a + b + 1\\n' > app.py")
    two = _session(repo, "two", "printf 'def add(a, b):\\n    return a + b + 2\\n' > app.py")
    other = _session(repo, "other", "echo x > other.txt")

    listed = {s["id"]: s["overlaps"] for s in json.loads(run_cli("list", "--json").stdout)}
    assert [(o["session_id"], o["files"], o["conflicts"]) for o in listed[one]] == [(two, ["app.py"], ["app.py"])]
    assert [o["session_id"] for o in listed[two]] == [one]
    assert listed[other] == []
    table = run_cli("list")
    assert "overlaps" in table.stdout and "predicted conflict in app.py" in table.stdout

    status = json.loads(run_cli("status", two, "--json").stdout)
    assert [o["session_id"] for o in status["overlaps"]] == [one]
    assert "predicted conflict in app.py" in run_cli("status", two).stdout

    landed = run_cli("land", one)  # warned before landing, then lands (the base is free)
    assert landed.returncode == 0, landed.stderr
    assert f"overlaps {two} (two) on app.py: predicted conflict in app.py" in landed.stdout
    # one is done now: two is no longer flagged (its conflict is with the base, which land reports)
    after = {s["id"]: s["overlaps"] for s in json.loads(run_cli("list", "--json").stdout)}
    assert after[two] == [] and after[one] == []


def test_uncommitted_edits_count_and_a_clean_merge_is_said_so(repo: Path) -> None:
    one = _session(repo, "one", "printf 'x = 1\\n' >> app.py")
    two = _session(repo, "two", "true")
    wt = Path(json.loads(run_cli("status", two, "--json").stdout)["session"]["worktree_path"])
    (wt / "app.py").write_text("# top\n" + (wt / "app.py").read_text())  # not committed yet
    status = json.loads(run_cli("status", one, "--json").stdout)
    assert [(o["session_id"], o["files"]) for o in status["overlaps"]] == [(two, ["app.py"])]
    assert status["overlaps"][0]["conflicts"] == []  # the committed tips merge cleanly
