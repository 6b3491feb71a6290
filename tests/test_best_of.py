"""Best-of-N (issue 19): one prompt, three candidates of the command agent in parallel; the one that
passes the test gate wins, and landing it archives the other two (kept, restorable). Real git, the
real DB, `ampsm` in subprocesses."""

from __future__ import annotations

import json
import os
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


def test_a_batch_item_with_agents_and_best_of_runs_ranked_candidates_and_queues_only_the_winner(
    tmp_path: Path,
) -> None:
    """`agents:` × `bestOf:` on a batch item: every candidate is a batch item of its own, the group is
    ranked when the batch ends (gate, then diff size), and `queue: true` lands only the winner, which
    archives the other candidates."""
    from tests.test_batch_file import make_repo

    ws = tmp_path / "ws"
    repo = make_repo(ws / "repo")
    flag = tmp_path / "small-taken"
    # all three pass the gate; exactly one writes the smallest change, so it wins on diff size
    cmd = f"if mkdir {flag} 2>/dev/null; then echo ok > pass.txt; else echo o > pass.txt; echo k >> pass.txt; fi"
    f = ws / "batch.yaml"
    f.write_text(
        "name: pick\nrepos:\n  - path: repo\nitems:\n"
        f'  - name: pick\n    prompt: make it pass\n    agents: [command]\n    bestOf: 3\n    agentCmd: "{cmd}"\n'
        "    script: test -f pass.txt\n"
        '  - name: plain\n    prompt: p\n    agent: command\n    agentCmd: "echo p > p.txt"\n'
        "concurrency: 2\nqueue: true\n"
    )
    plan = json.loads(run_cli("batch", "start", "--file", str(f), "--dry-run", "--json").stdout)
    names = [row["name"] for row in (plan["items"] if isinstance(plan, dict) else plan)]
    assert names == ["pick command 1", "pick command 2", "pick command 3", "plain"]

    out = run_cli("batch", "start", "--file", str(f), "--json", timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    groups = list((Path(os.environ["AMPSM_CONFIG_DIR"]) / "bestof").glob("*.json"))
    assert len(groups) == 1
    group = json.loads(groups[0].read_text())
    cands = group["candidates"]
    assert [c["passed"] for c in cands] == [True, True, True]
    assert [c["lines_changed"] for c in cands] == [1, 2, 2]
    winner = cands[0]["session_id"]
    assert group["winner"] == winner and group["landed"] == winner
    queued = json.loads(run_cli("queue", "status", "--json").stdout)
    assert sorted(e["session_id"] for e in queued) == sorted([winner, _plain(ws)])  # only the winner of the group
    assert git(repo, "show", "main:pass.txt") == "ok" and git(repo, "show", "main:p.txt") == "p"
    for c in cands[1:]:  # landing the winner (through the queue) archived the others
        assert json.loads(run_cli("status", c["session_id"], "--json").stdout)["session"]["status"] == "archived"


def _plain(ws: Path) -> str:
    listed = json.loads(run_cli("list", "--json").stdout)
    return next(s["id"] for s in listed if s["name"] == "plain")


def test_bad_best_of_batch_keys_point_at_their_line(tmp_path: Path) -> None:
    from tests.test_batch_file import make_repo

    ws = tmp_path / "ws"
    make_repo(ws / "repo")
    f = ws / "batch.yaml"
    f.write_text("name: x\nrepos:\n  - path: repo\nitems:\n  - name: a\n    prompt: p\n    agents: [amp, nope]\n")
    out = run_cli("batch", "start", "--file", str(f), "--dry-run")
    assert out.returncode != 0 and "batch.yaml:7: items.0.agents.1: unknown agent 'nope'" in out.stderr, out.stderr
    f.write_text("name: x\nrepos:\n  - path: repo\nitems:\n  - name: a\n    prompt: p\n    agents: [command]\n")
    out = run_cli("batch", "start", "--file", str(f), "--dry-run")
    assert out.returncode != 0 and "items.0.agents: the command agent needs agentCmd" in out.stderr, out.stderr
    f.write_text("name: x\nrepos:\n  - path: repo\nitems:\n  - name: a\n    prompt: p\n    bestOf: 0\n")
    out = run_cli("batch", "start", "--file", str(f), "--dry-run")
    assert out.returncode != 0 and "items.0.bestOf" in out.stderr, out.stderr
