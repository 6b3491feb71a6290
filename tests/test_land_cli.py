"""`ampsm land`: the wizard's plan for scripts, through the real CLI (the same engine call)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli
from tests.git_helpers import commit_all, git, state, write


def _session(repo: Path, *extra: str) -> tuple[str, Path]:
    out = run_cli(
        "new", "--repo", str(repo), "--name", "cli land", "--agent", "command", "--agent-cmd", "true", "--json", *extra
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    wt = Path(doc["worktree_path"])
    write(wt / "app.py", "def add(a, b):\n    return a + b  # session\n")
    commit_all(wt, "amp: change add")
    write(wt / "more.py", "y = 2\n")
    commit_all(wt, "amp: add more")
    return doc["id"], wt


def test_land_conflict_json_then_abort_restores_everything(repo: Path) -> None:
    sid, wt = _session(repo)
    write(repo / "app.py", "def add(a, b):\n    return b + a  # main\n")
    commit_all(repo, "main moved on")
    before = (state(repo), state(wt), (wt / "app.py").read_text())

    out = run_cli("land", sid, "-m", "Landed by a script", "--json")

    assert out.returncode == 11  # E001: the conflict
    assert out.stderr.startswith("E001: rebase conflicts in app.py"), out.stderr
    doc = json.loads(out.stdout)  # exactly one document
    assert doc["code"] == "E001" and doc["status"] == "conflict"
    assert doc["conflict"]["files"] == ["app.py"] and doc["conflict"]["operation"] == "rebase"
    assert [s["step"] for s in doc["steps"]] == ["squash", "rebase"]

    again = run_cli("land", sid, "--json")  # one land at a time
    assert again.returncode == 11 and "stopped" in json.loads(again.stdout)["message"]

    aborted = run_cli("land", sid, "--abort", "--json")
    assert aborted.returncode == 0, aborted.stderr
    assert json.loads(aborted.stdout)["status"] == "aborted"
    assert (state(repo), state(wt), (wt / "app.py").read_text()) == before


def test_land_resolve_then_resume_lands(repo: Path) -> None:
    sid, wt = _session(repo)
    write(repo / "app.py", "def add(a, b):\n    return b + a  # main\n")
    commit_all(repo, "main moved on")
    assert run_cli("land", sid, "-m", "Landed by a script").returncode == 11

    write(wt / "app.py", "def add(a, b):\n    return b + a  # both\n")
    out = run_cli("land", sid, "--resume", "--json")

    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["landed"] is True and doc["sha"] == git(repo, "rev-parse", "main")
    assert git(repo, "log", "-1", "--format=%s", "main") == "Landed by a script"
    assert (repo / "app.py").read_text().endswith("# both\n")
    status = json.loads(run_cli("status", sid, "--json").stdout)
    assert status["session"]["status"] == "done"


def test_land_keep_history_no_ff_and_failing_tests(repo: Path) -> None:
    sid, _ = _session(repo, "--script", "test -f ready.txt")

    out = run_cli("land", sid, "--keep", "--no-ff", "--merge-message", "Merge via land")

    assert out.returncode == 16, out.stderr  # E006: the re-test failed; nothing merged
    assert out.stderr.startswith("E006: tests failed")
    assert "✗ retest" in out.stdout
    assert git(repo, "log", "-1", "--format=%s", "main") == "initial"

    out = run_cli("land", sid, "--resume", "--no-retest")

    assert out.returncode == 0, out.stderr
    assert git(repo, "log", "-1", "--format=%s", "main") == "Merge via land"
    assert git(repo, "log", "--format=%s", "main^2", "-2").splitlines() == ["amp: add more", "amp: change add"]


def test_land_usage_errors(repo: Path) -> None:
    sid, _ = _session(repo)
    out = run_cli("land", sid, "--keep", "-m", "x", "--json")
    assert out.returncode == 2 and json.loads(out.stdout)["code"] == "usage"
    out = run_cli("land", sid, "--resume")
    assert out.returncode == 2 and "no stopped land" in out.stderr
