"""`bench start` with agents: real sessions (command agent, fake amp and claude), real git and pytest."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from ampsm_tui.engine.bench.models import BenchInstance, InstanceStatus
from ampsm_tui.engine.bench.report import UNPRICED, leaderboard
from ampsm_tui.engine.config import load_config
from ampsm_tui.engine.store import Store

from . import bench_fixture
from .conftest import FAKES, run_cli

IDS = bench_fixture.IDS


@pytest.fixture
def fx(tmp_path: Path) -> bench_fixture.FixtureBench:
    return bench_fixture.build(tmp_path / "fx")


def _env() -> dict[str, str]:
    return {"PATH": f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}", "AMP_API_KEY": "test-key"}


def _start(fx: bench_fixture.FixtureBench, out: Path, *args: str, rc: int = 0) -> dict:  # type: ignore[type-arg]
    res = run_cli(
        "bench", "start", "--dataset", str(fx.dataset), "--repos-dir", str(fx.repos_dir),
        "--report-dir", str(out), "--json", *args, env=_env(), timeout=300,
    )  # fmt: skip
    assert res.returncode == rc, res.stderr + res.stdout  # 1: some instances errored
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def _sessions() -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        store = Store.from_config(load_config())
        await store.open()
        try:
            return [s.model_dump(mode="json") for s in await store.list_sessions()]
        finally:
            await store.close()

    return asyncio.run(read())


@pytest.mark.timeout(900)  # a whole bench run with agents: minutes on a loaded CI machine
def test_scripted_fix_agent_end_to_end(tmp_path: Path, fx: bench_fixture.FixtureBench) -> None:
    out = tmp_path / "out"
    data = _start(fx, out, "--agent", "command", "--agent-cmd", fx.fix_cmd, "--run-id", "scripted")
    summary = json.loads((out / "command.scripted.json").read_text())
    assert summary["resolved_ids"] == ["acme__calc-1", "acme__calc-2"]
    assert summary["unresolved_ids"] == ["acme__calc-3"]
    assert summary["empty_patch_ids"] == ["acme__calc-4"]
    assert summary["error_ids"] == [] and summary["total_instances"] == 4
    # predictions in the official shape, one line per instance
    lines = (out / "command.scripted.predictions.jsonl").read_text().splitlines()
    preds = [json.loads(line) for line in lines]
    assert [p["instance_id"] for p in preds] == IDS
    assert all(set(p) == {"instance_id", "model_name_or_path", "model_patch"} for p in preds)
    assert all(p["model_name_or_path"] == "command" for p in preds)
    assert preds[3]["model_patch"] == ""
    # the agent also edited tests/test_ops.py, which the test patch touches: kept out of the patch
    assert "calc/ops.py" in preds[0]["model_patch"] and "tests/test_ops.py" not in preds[0]["model_patch"]
    # every instance is a real session, linked to its bench row with its iteration
    sessions = {s["id"]: s for s in _sessions()}
    rows = {r["instance_id"]: r for r in data["instances"]}
    assert len(sessions) == 4
    for iid in IDS:
        row = rows[iid]
        assert row["session_id"] in sessions and row["iteration_id"] is not None and row["iterations"] == 1
        assert sessions[row["session_id"]]["agent"] == "command"
    for iid in ("acme__calc-1", "acme__calc-2", "acme__calc-3"):
        report = json.loads(
            (out / "logs" / "run_evaluation" / "scripted" / "command" / iid / "report.json").read_text()
        )
        assert report[iid]["resolved"] is (iid != "acme__calc-3")
    assert not (out / "logs" / "run_evaluation" / "scripted" / "command" / "acme__calc-4").exists()
    # predictions written by a run are graded the same by --evaluate
    again = _start(fx, tmp_path / "again", "--evaluate", str(out / "command.scripted.predictions.jsonl"))
    assert again["summaries"]["command"]["resolved_ids"] == summary["resolved_ids"]


def test_two_agents_leaderboard_with_tokens_and_cost(tmp_path: Path, fx: bench_fixture.FixtureBench) -> None:
    out = tmp_path / "out"
    _start(
        fx, out, "--agent", "amp", "--agent", "claude", "--agent", "command", "--agent-cmd", fx.fix_cmd,
        "--instance-ids", "acme__calc-1", "acme__calc-2", "--run-id", "cmp", "--workers", "2",
    )  # fmt: skip
    res = run_cli("bench", "report", "cmp", "--json")
    assert res.returncode == 0, res.stderr
    board = {r["model_name_or_path"]: r for r in json.loads(res.stdout)["leaderboard"]}
    assert set(board) == {"amp", "claude", "command"}
    amp, claude, command = board["amp"], board["claude"], board["command"]
    # the fakes' fixed usage: amp summed from its assistant messages (its result line has none)
    assert amp["tokens_per_instance"] == 2700 + 65 + 500 + 11200
    assert amp["cost_per_instance"] == pytest.approx(0.01431)
    assert claude["tokens_per_instance"] == 3046 + 60 + 8400 + 23600
    assert claude["cost_per_instance"] == pytest.approx(0.048618)
    assert command["cost_per_instance"] == 0.0 and command["resolved"] == 2 and command["resolved_pct"] == 100.0
    assert command["uniquely_resolved"] == ["acme__calc-1", "acme__calc-2"]
    assert amp["resolved"] == claude["resolved"] == 0 and amp["iterations_per_instance"] == 1.0
    assert amp["median_s"] is not None and amp["p90_s"] is not None
    md = run_cli("bench", "report", "cmp", "--markdown").stdout
    assert "| amp |" in md and "| claude |" in md and "$0.0143" in md and "$0.0486" in md
    table = run_cli("bench", "report", "cmp", env={"COLUMNS": "200"})  # the plain tables, for a terminal
    assert table.returncode == 0, table.stderr
    assert "acme__calc-1" in table.stdout and "$0.0143" in table.stdout and "$0.0486" in table.stdout


def test_max_cost_stops_starting_instances(tmp_path: Path, fx: bench_fixture.FixtureBench) -> None:
    out = tmp_path / "out"
    data = _start(fx, out, "--agent", "claude", "--max-cost", "0.01", "--run-id", "budget", "--limit", "3")
    rows = {r["instance_id"]: r for r in data["instances"]}
    assert rows["acme__calc-1"]["status"] == "unresolved"  # ran: the budget was not yet reached
    assert rows["acme__calc-2"]["status"] == rows["acme__calc-3"]["status"] == "skipped"
    assert "--max-cost" in rows["acme__calc-2"]["reason"]
    assert data["status"] == "stopped"


def test_missing_repo_is_an_error_for_that_instance_only(tmp_path: Path, fx: bench_fixture.FixtureBench) -> None:
    rows = [json.loads(line) for line in fx.dataset.read_text().splitlines()][:2]
    rows[0]["repo"] = "acme/gone"
    fx.dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = _start(fx, tmp_path / "out", "--agent", "command", "--agent-cmd", fx.fix_cmd, "--run-id", "gone", rc=1)
    by_id = {r["instance_id"]: r for r in data["instances"]}
    assert by_id["acme__calc-1"]["status"] == "error" and "not found" in by_id["acme__calc-1"]["reason"]
    assert by_id["acme__calc-2"]["status"] == "resolved"
    # no agent ran, so there is no prediction: the official summary counts it as incomplete
    assert data["summaries"]["command"]["incomplete_ids"] == ["acme__calc-1"]


def test_predictions_only_writes_predictions_and_grades_nothing(tmp_path: Path, fx: bench_fixture.FixtureBench) -> None:
    out = tmp_path / "out"
    data = _start(fx, out, "--agent", "command", "--agent-cmd", fx.fix_cmd, "--predictions-only", "--run-id", "po")
    assert {r["status"] for r in data["instances"]} == {"predicted", "empty"}
    assert (out / "command.po.predictions.jsonl").exists()
    assert not (out / "logs" / "run_evaluation" / "po" / "command").exists()
    assert data["summaries"] == {}


def test_custom_benchmark(tmp_path: Path, fx: bench_fixture.FixtureBench) -> None:
    config = tmp_path / "custom.yaml"
    config.write_text(
        "name: toy\n"
        "instances:\n"
        "  - id: fix-sub\n"
        f"    repo: {fx.repo}\n"
        "    prompt: sub() is adding instead of subtracting\n"
        "    check: python -m pytest -rA -p no:cacheprovider tests/test_ops.py\n"
        "    PASS_TO_PASS: [tests/test_ops.py::test_add]\n"
        "  - id: neg-check\n"
        f"    repo: {fx.repo}\n"
        "    base: main\n"
        "    prompt: neg() should negate\n"
        "    check: [python, -c, 'from calc.ops import neg; assert neg(2) == -2']\n"
    )
    out = tmp_path / "out"
    res = run_cli(
        "bench", "custom", "--config", str(config), "--agent", "command", "--agent-cmd", fx.fix_cmd,
        "--report-dir", str(out), "--run-id", "custom", "--json", env=_env(), timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    summary = data["summaries"]["command"]
    assert summary["resolved_ids"] == ["fix-sub", "neg-check"]
    by_id = {r["instance_id"]: r for r in data["instances"]}
    # the scripted fix makes neg right but breaks add: the check (exit status) passes
    assert by_id["neg-check"]["status"] == "resolved"
    assert by_id["fix-sub"]["status"] == "resolved"
    bad = tmp_path / "bad.yaml"
    bad.write_text("instances:\n  - id: x\n    repo: .\n    prompt: p\n    check: 'true'\n    chek: true\n")
    res = run_cli("bench", "custom", "--config", str(bad))
    assert res.returncode == 2 and "bad.yaml:6" in res.stderr and "unknown key" in res.stderr


def test_leaderboard_unpriced_is_never_zero() -> None:
    def row(name: str, iid: str, status: InstanceStatus, cost: float | None, session: str | None) -> BenchInstance:
        return BenchInstance(
            run_id="r", instance_id=iid, model_name_or_path=name, status=status, cost_usd=cost,
            session_id=session, duration_s=1.0, input_tokens=10,
        )  # fmt: skip

    board = {
        r.model_name_or_path: r
        for r in leaderboard(
            [
                row("priced", "a", InstanceStatus.RESOLVED, 0.5, "s1"),
                row("priced", "b", InstanceStatus.UNRESOLVED, 0.25, "s2"),
                row("gemini", "a", InstanceStatus.RESOLVED, None, "s3"),
                row("gemini", "b", InstanceStatus.RESOLVED, 0.1, "s4"),
                row("preds", "a", InstanceStatus.UNRESOLVED, None, None),
            ]
        )
    }
    assert board["priced"].cost_per_instance == pytest.approx(0.375)
    assert board["priced"].cost_per_resolved == pytest.approx(0.75)
    assert board["gemini"].cost_per_instance == UNPRICED and board["gemini"].cost_total == UNPRICED
    assert board["preds"].cost_per_instance is None  # no agent ran: nothing to price
    assert board["gemini"].uniquely_resolved == ["b"] and board["priced"].uniquely_resolved == []
    assert board["gemini"].resolved_pct == 100.0 and board["priced"].resolved_pct == 50.0
