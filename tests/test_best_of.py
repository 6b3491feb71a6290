"""Best-of-N (issue 19): one prompt, three candidates of the command agent in parallel; the one that
passes the test gate wins, and landing it archives the other two (kept, restorable). Real git, the
real DB, `ampsm` in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

from ampsm_tui.engine.bestof import Candidate, rank_key
from tests.conftest import git, run_cli


def test_best_of_three_where_one_passes_the_gate_wins_and_landing_archives_the_others(
    repo: Path, tmp_path: Path
) -> None:
    flag = tmp_path / "winner-taken"
    # exactly one candidate (whichever gets there first) writes the file the gate wants; the others
    # write a bigger change that fails it
    cmd = f"if mkdir {flag} 2>/dev/null; then echo ok > pass.txt; else printf 'a\\nb\\nc\\n' > fail.txt; fi"
    out = run_cli(
        "new", "--repo", str(repo), "--name", "pick", "--prompt", "make it pass", "--agents", "command",
        "--agent-cmd", cmd, "--n", "3", "--script", "test -f pass.txt", "--json", timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    group = json.loads(out.stdout)
    cands = group["candidates"]
    assert len(cands) == 3 and [c["rank"] for c in cands] == [1, 2, 3]
    assert [c["passed"] for c in cands] == [True, False, False]
    winner = cands[0]["session_id"]
    assert group["winner"] == winner
    winner_wt = Path(json.loads(run_cli("status", winner, "--json").stdout)["session"]["worktree_path"])
    assert (winner_wt / "pass.txt").exists()

    text_out = run_cli("land", winner, "--json")
    assert text_out.returncode == 0, text_out.stderr
    landed = json.loads(text_out.stdout)
    assert landed["landed"] and sorted(landed["archived"]) == sorted(c["session_id"] for c in cands[1:])
    assert git(repo, "show", "main:pass.txt") == "ok"
    for c in cands[1:]:
        status = json.loads(run_cli("status", c["session_id"], "--json").stdout)["session"]["status"]
        assert status == "archived"
    back = run_cli("restore", cands[1]["session_id"], "--json")  # kept, restorable
    assert back.returncode == 0, back.stderr
    restored = Path(json.loads(run_cli("status", cands[1]["session_id"], "--json").stdout)["session"]["worktree_path"])
    assert (restored / "fail.txt").read_text() == "a\nb\nc\n"


def test_ranking_is_gate_then_diff_then_cost_then_time() -> None:
    def c(sid: str, passed: bool, lines: int, cost: float | None, took: float) -> Candidate:
        return Candidate(session_id=sid, agent="x", name=sid, passed=passed, lines_changed=lines, cost_usd=cost,
                         duration_s=took)  # fmt: skip

    ranked = sorted(
        [
            c("failed-small", False, 1, 0.01, 1),
            c("big", True, 50, 0.01, 1),
            c("unpriced", True, 5, None, 1),
            c("cheap", True, 5, 0.01, 9),
            c("cheap-fast", True, 5, 0.01, 2),
        ],
        key=rank_key,
    )
    assert [x.session_id for x in ranked] == ["cheap-fast", "cheap", "unpriced", "big", "failed-small"]


def test_bad_best_of_flags_are_usage_errors(repo: Path) -> None:
    out = run_cli("new", "--repo", str(repo), "--name", "x", "--agents", "nope", "--n", "2")
    assert out.returncode == 2 and "unknown agent 'nope'" in out.stderr
    out = run_cli("new", "--repo", str(repo), "--name", "x", "--agents", "command", "--n", "2")
    assert out.returncode == 2 and "needs --agent-cmd" in out.stderr
