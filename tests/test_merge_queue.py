"""The merge queue (issue 19): four sessions of one repo, made by the command agent through the real
CLI, land one at a time; one conflicts and one breaks the tests on the merged tree.

Real git, the real DB, `ampsm` in subprocesses: the other two land, the base ends green, and the
two are reported with their reasons and their branches untouched.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

from tests.conftest import git, run_cli

CHECK = 'if [ -f a.txt ] && [ -f d.txt ]; then echo "a.txt and d.txt clash" >&2; exit 1; fi\n'


def _session(repo: Path, name: str, cmd: str) -> str:
    out = run_cli(
        "new", "--repo", str(repo), "--name", name, "--agent", "command", "--agent-cmd", cmd,
        "--script", "sh check.sh", "--prompt", f"do {name}", "--run", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    doc = json.loads(out.stdout)
    assert doc["iteration"]["test_exit_code"] == 0  # each session is green on its own
    return str(doc["id"])


def _green(repo: Path, tmp: Path) -> int:
    """Run the test gate on the base branch's tree, as committed."""
    tree = tmp / "base-tree"
    tree.mkdir()
    blob = subprocess.run(["git", "archive", "main"], cwd=repo, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(tree, filter="data")
    return subprocess.run(["sh", "check.sh"], cwd=tree, capture_output=True).returncode


def test_queue_of_four_lands_two_and_reports_a_conflict_and_a_red_gate(repo: Path, tmp_path: Path) -> None:
    (repo / "check.sh").write_text(CHECK)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "test gate")
    ids = [
        _session(repo, "add a", "echo a > a.txt"),
        _session(repo, "readme two", "printf 'two\\n' > README.md"),
        _session(repo, "readme three", "printf 'three\\n' > README.md"),  # conflicts once two landed
        _session(repo, "add d", "echo d > d.txt"),  # green alone, red next to a.txt
    ]
    branches = {sid: json.loads(run_cli("status", sid, "--json").stdout)["session"]["branch"] for sid in ids}
    tips = {sid: git(repo, "rev-parse", branches[sid]) for sid in ids}

    out = run_cli("queue", "add", *ids, "--json", timeout=300)

    assert out.returncode == 1, out.stderr + out.stdout  # not all landed
    entries = json.loads(out.stdout)["entries"]
    assert [(e["session_id"], e["status"]) for e in entries] == [
        (ids[0], "landed"), (ids[1], "landed"), (ids[2], "removed"), (ids[3], "removed"),
    ]  # fmt: skip
    assert entries[2]["reason"] == "conflict: rebase conflicts in README.md"
    assert entries[3]["reason"].startswith("red gate on the merged tree: tests failed (exit 1)")
    # the base moved only on green: both landings are on it, and its tree passes the gate
    assert entries[1]["sha"] == git(repo, "rev-parse", "main")
    assert git(repo, "show", "main:README.md") == "two"
    assert "a.txt" in git(repo, "ls-tree", "--name-only", "main").split()
    assert "d.txt" not in git(repo, "ls-tree", "--name-only", "main").split()
    assert _green(repo, tmp_path) == 0
    # the two taken out: branches untouched, sessions still live
    for sid in ids[2:]:
        assert git(repo, "rev-parse", branches[sid]) == tips[sid]
        status = json.loads(run_cli("status", sid, "--json").stdout)["session"]["status"]
        assert status not in ("done", "archived")
    for sid in ids[:2]:
        assert json.loads(run_cli("status", sid, "--json").stdout)["session"]["status"] == "done"

    shown = run_cli("queue", "status")
    assert shown.returncode == 0 and "conflict: rebase conflicts in README.md" in shown.stdout
    listed = json.loads(run_cli("queue", "status", "--json").stdout)
    assert [e["status"] for e in listed] == ["landed", "landed", "removed", "removed"]
    again = run_cli("queue", "add", ids[0])  # a landed session cannot be queued again
    assert again.returncode == 2 and "done" in again.stderr


def test_a_batch_with_queue_true_lands_its_green_items(tmp_path: Path, isolated_env: Path) -> None:
    from tests.test_batch_file import make_repo

    ws = tmp_path / "ws"
    repo = make_repo(ws / "repo")
    (repo / "check.sh").write_text(CHECK)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "test gate")
    f = ws / "batch.yaml"
    f.write_text(
        "name: queued\nrepos:\n  - path: repo\nitems:\n"
        '  - name: a\n    prompt: a\n    agent: command\n    agentCmd: "echo a > a.txt"\n    script: sh check.sh\n'
        '  - name: b\n    prompt: b\n    agent: command\n    agentCmd: "echo b > b.txt"\n    script: sh check.sh\n'
        '  - name: red\n    prompt: r\n    agent: command\n    agentCmd: "echo r > r.txt; false"\n'
        "    script: test -f nothing\nconcurrency: 1\nqueue: true\n"
    )
    out = run_cli("batch", "start", "--file", str(f), "--json", timeout=300)
    assert out.returncode == 1, out.stderr + out.stdout  # the red item failed
    on_main = git(repo, "ls-tree", "--name-only", "main").split()
    assert "a.txt" in on_main and "b.txt" in on_main and "r.txt" not in on_main
    listed = json.loads(run_cli("queue", "status", "--json").stdout)
    assert [e["status"] for e in listed] == ["landed", "landed"]
