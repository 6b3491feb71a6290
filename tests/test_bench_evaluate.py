"""`bench start --evaluate PREDS` / `-p gold` on the fixture benchmark: real git, real pytest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ampsm_tui.engine.bench.grading import official_available

from . import bench_fixture
from .conftest import ROOT, git, run_cli

IDS = bench_fixture.IDS


# one xdist worker takes the whole module: its module fixture is built once
pytestmark = pytest.mark.xdist_group("bench-evaluate")


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> bench_fixture.FixtureBench:
    return bench_fixture.build(tmp_path_factory.mktemp("benchfx"))


def _start(fx: bench_fixture.FixtureBench, out: Path, *args: str, timeout: float = 240, rc: int = 0) -> dict:  # type: ignore[type-arg]
    res = run_cli(
        "bench", "start", "--dataset", str(fx.dataset), "--repos-dir", str(fx.repos_dir),
        "--report-dir", str(out), "--json", *args, timeout=timeout,
    )  # fmt: skip
    assert res.returncode == rc, res.stderr + res.stdout  # 1: some instances errored
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def _summary(out: Path, model: str, run_id: str) -> dict:  # type: ignore[type-arg]
    return json.loads((out / f"{model.replace('/', '__')}.{run_id}.json").read_text())  # type: ignore[no-any-return]


def _worktrees(repo: Path) -> list[str]:
    return [line for line in git(repo, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


def test_fixture_is_deterministic(tmp_path: Path, fx: bench_fixture.FixtureBench) -> None:
    again = bench_fixture.build(tmp_path / "again")
    assert again.base_commit == fx.base_commit
    assert again.dataset.read_text() == fx.dataset.read_text()
    row = json.loads(fx.dataset.read_text().splitlines()[0])
    assert isinstance(row["FAIL_TO_PASS"], str) and isinstance(json.loads(row["FAIL_TO_PASS"]), list)


@pytest.mark.parametrize("preds", ["gold.json", "gold.jsonl"])
def test_gold_predictions_resolve_every_instance(tmp_path: Path, fx: bench_fixture.FixtureBench, preds: str) -> None:
    out = tmp_path / "out"
    data = _start(fx, out, "--evaluate", str(fx.preds[preds]), "--run-id", "gold-run")
    summary = _summary(out, "fixture/gold", "gold-run")
    assert summary["resolved_ids"] == IDS
    assert summary["total_instances"] == summary["submitted_instances"] == summary["completed_instances"] == 4
    assert summary["error_ids"] == summary["empty_patch_ids"] == summary["unresolved_ids"] == []
    assert summary["schema_version"] == 2
    assert data["summaries"]["fixture/gold"] == summary
    for iid in IDS:
        log_dir = out / "logs" / "run_evaluation" / "gold-run" / "fixture__gold" / iid
        report = json.loads((log_dir / "report.json").read_text())
        assert list(report) == [iid]
        assert list(report[iid]) == [
            "patch_is_None", "patch_exists", "patch_successfully_applied", "resolved", "infra_failure", "tests_status",
        ]  # fmt: skip
        assert list(report[iid]["tests_status"]) == ["FAIL_TO_PASS", "PASS_TO_PASS", "FAIL_TO_FAIL", "PASS_TO_FAIL"]
        text = (log_dir / "test_output.txt").read_text()
        assert ">>>>> Start Test Output" in text and ">>>>> End Test Output" in text
        assert (log_dir / "patch.diff").read_text() == fx.instances[IDS.index(iid)]["patch"]
        assert (log_dir / "run_instance.log").exists()
    # the instance with an eval_script ran it, and its XFAIL test counted as passing
    calc4 = out / "logs" / "run_evaluation" / "gold-run" / "fixture__gold" / "acme__calc-4"
    assert (calc4 / "eval.sh").exists()
    assert "XFAIL tests/test_square.py::test_square_str" in (calc4 / "test_output.txt").read_text()
    assert _worktrees(fx.repo) == [f"worktree {fx.repo}"]  # every evaluation worktree removed
    from ampsm_tui.engine.bench.evaluate import worktree_holder
    from ampsm_tui.engine.bench.predictions import Prediction

    holder = worktree_holder(
        "gold-run", Prediction(instance_id=IDS[0], model_name_or_path="fixture/gold", model_patch=""), out.resolve()
    )
    assert not holder.parent.parent.exists()  # nor an empty folder of the run under the temp dir


def test_p_gold_uses_the_reference_patches(tmp_path: Path, fx: bench_fixture.FixtureBench) -> None:
    out = tmp_path / "out"
    _start(fx, out, "-p", "gold", "--run-id", "sanity", "--instance-ids", "acme__calc-1,acme__calc-2")
    summary = _summary(out, "gold", "sanity")
    assert summary["resolved_ids"] == ["acme__calc-1", "acme__calc-2"] and summary["total_instances"] == 2


@pytest.mark.parametrize("preds", ["mixed.json", "mixed.jsonl"])
def test_mixed_predictions_land_in_the_right_ids(tmp_path: Path, fx: bench_fixture.FixtureBench, preds: str) -> None:
    out = tmp_path / "out"
    data = _start(fx, out, "--evaluate", str(fx.preds[preds]), "--run-id", "mixed", rc=1)
    summary = _summary(out, "fixture/mixed", "mixed")
    assert summary["resolved_ids"] == ["acme__calc-1"]
    assert summary["unresolved_ids"] == ["acme__calc-3"]  # the wrong patch broke a PASS_TO_PASS test
    assert summary["empty_patch_ids"] == ["acme__calc-2"]
    assert summary["error_ids"] == ["acme__calc-4"]  # the patch does not apply
    assert summary["completed_ids"] == ["acme__calc-1", "acme__calc-3"]
    rows = {r["instance_id"]: r for r in data["instances"]}
    assert rows["acme__calc-4"]["status"] == "error" and "did not apply" in rows["acme__calc-4"]["reason"]
    assert "PASS_TO_PASS broken: tests/test_ops.py::test_add" in rows["acme__calc-3"]["reason"]
    assert rows["acme__calc-3"]["p2p_passed"] == 1 and rows["acme__calc-3"]["p2p_total"] == 2
    log4 = out / "logs" / "run_evaluation" / "mixed" / "fixture__mixed" / "acme__calc-4"
    assert not (log4 / "report.json").exists()
    assert ">>>>> Patch Apply Failed" in (log4 / "run_instance.log").read_text()
    assert not (out / "logs" / "run_evaluation" / "mixed" / "fixture__mixed" / "acme__calc-2").exists()


def test_empty_predictions_are_never_run(tmp_path: Path, fx: bench_fixture.FixtureBench) -> None:
    out = tmp_path / "out"
    _start(fx, out, "--evaluate", str(fx.preds["empty.jsonl"]), "--run-id", "e")
    summary = _summary(out, "fixture/empty", "e")
    assert summary["empty_patch_ids"] == IDS and summary["completed_instances"] == 0


@pytest.mark.timeout(900)
def test_missing_repo_and_test_timeout_are_per_instance_errors(tmp_path: Path, fx: bench_fixture.FixtureBench) -> None:
    rows = [json.loads(line) for line in fx.dataset.read_text().splitlines()]
    rows[0]["repo"] = "acme/gone"  # no clone of it anywhere
    dataset = tmp_path / "d.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
    slow = tmp_path / "slowpy"
    slow.write_text(
        "import os, sys, time\n"
        "if 'test_ops.py' in ' '.join(sys.argv) and os.environ.get('PWD', os.getcwd()):\n"
        "    time.sleep(120)\n"
        f"os.execv({sys.executable!r}, [{sys.executable!r}, *sys.argv[1:]])\n"
    )
    out = tmp_path / "out"
    # 45 s: the instance that passes must pass on a loaded machine too; the slow one sleeps 120 s
    res = run_cli(
        "bench", "start", "--dataset", str(dataset), "--repos-dir", str(fx.repos_dir), "--report-dir", str(out),
        "-p", "gold", "--run-id", "t", "--timeout", "45", "--env-cmd", f"{sys.executable} {slow}", "--json",
    )  # fmt: skip
    assert res.returncode == 1, res.stderr  # the run went on, and its status says some errored
    data = json.loads(res.stdout)
    by_id = {r["instance_id"]: r for r in data["instances"]}
    assert by_id["acme__calc-1"]["status"] == "error" and "acme/gone" in by_id["acme__calc-1"]["reason"]
    assert by_id["acme__calc-2"]["status"] == "resolved"  # the run went on
    assert by_id["acme__calc-3"]["status"] == "error" and "timed out" in by_id["acme__calc-3"]["reason"]
    summary = _summary(out, "gold", "t")
    assert summary["error_ids"] == ["acme__calc-1", "acme__calc-3"] and summary["resolved_ids"] == ["acme__calc-2"]
    log3 = out / "logs" / "run_evaluation" / "t" / "gold" / "acme__calc-3" / "test_output.txt"
    assert "Timeout error: 45 seconds exceeded." in log3.read_text()
    assert summary["failure_reasons"] == {"acme__calc-3": "tests_timed_out"}
    assert _worktrees(fx.repo) == [f"worktree {fx.repo}"]


def test_sigkill_then_same_run_id_grades_only_the_rest(tmp_path: Path, fx: bench_fixture.FixtureBench) -> None:
    counter = tmp_path / "counter"
    block = tmp_path / "block"
    block.write_text("")
    wrapper = tmp_path / "countpy"
    wrapper.write_text(
        "import os, sys, time\n"
        f"with open({str(counter)!r}, 'a') as fh:\n"
        "    fh.write(os.getcwd() + '\\n')\n"
        f"n = len(open({str(counter)!r}).read().splitlines())\n"
        f"if n >= 2 and os.path.exists({str(block)!r}):\n"
        "    time.sleep(300)\n"
        f"os.execv({sys.executable!r}, [{sys.executable!r}, *sys.argv[1:]])\n"
    )
    out = tmp_path / "out"
    argv = [
        sys.executable, "-m", "ampsm_tui", "bench", "start", "--dataset", str(fx.dataset),
        "--repos-dir", str(fx.repos_dir), "--report-dir", str(out), "-p", "gold", "--run-id", "resume-me",
        "--instance-ids", "acme__calc-1", "acme__calc-2", "acme__calc-3",
        "--env-cmd", f"{sys.executable} {wrapper}",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(1200):  # until the second instance's tests are running (bounded wait, not a timing assertion)
            if counter.exists() and len(counter.read_text().splitlines()) >= 2:
                break
            if proc.poll() is not None:
                pytest.fail(f"bench exited early: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.1)
        else:
            pytest.fail("the second instance never started")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    first_report = out / "logs" / "run_evaluation" / "resume-me" / "gold" / "acme__calc-1" / "report.json"
    assert first_report.exists()
    stamp = first_report.stat().st_mtime_ns
    block.unlink()
    counter.write_text("")
    res = run_cli("bench", "start", "--run-id", "resume-me", "--json")  # everything else from the stored run
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["started"] == 2
    ran = counter.read_text().splitlines()
    assert len(ran) == 2 and not any(line.endswith("acme__calc-1/testbed") for line in ran)
    assert first_report.stat().st_mtime_ns == stamp  # not graded again
    assert _summary(out, "gold", "resume-me")["resolved_ids"] == ["acme__calc-1", "acme__calc-2", "acme__calc-3"]
    assert _worktrees(fx.repo) == [f"worktree {fx.repo}"]  # the killed run's worktree was cleaned on resume
    again = json.loads(run_cli("bench", "start", "--run-id", "resume-me", "--json").stdout)
    assert again["started"] == 0
    redo = json.loads(run_cli("bench", "start", "--run-id", "resume-me", "--redo", "--json").stdout)
    assert redo["started"] == 3


@pytest.mark.skipif(not official_available(), reason="the official swebench package is not installed")
@pytest.mark.timeout(900)  # four full evaluations: 40 s alone, several minutes on a loaded CI machine
def test_official_grader_agrees_on_the_fixture_runs(tmp_path: Path, fx: bench_fixture.FixtureBench) -> None:
    for preds in ("gold.json", "mixed.json"):
        ours = tmp_path / f"ours-{preds}"
        theirs = tmp_path / f"theirs-{preds}"
        rc = 1 if preds == "mixed.json" else 0
        _start(fx, ours, "--evaluate", str(fx.preds[preds]), "--run-id", f"local-{preds}", "--grader", "local", rc=rc)
        _start(
            fx,
            theirs,
            "--evaluate",
            str(fx.preds[preds]),
            "--run-id",
            f"official-{preds}",
            "--grader",
            "official",
            rc=rc,
        )
        model = "fixture__" + preds.split(".")[0]
        summary = _summary(ours, model, f"local-{preds}")
        assert summary["completed_instances"] > 0
        assert summary == _summary(theirs, model, f"official-{preds}")
        for iid in IDS:
            a = ours / "logs" / "run_evaluation" / f"local-{preds}" / model / iid / "report.json"
            b = theirs / "logs" / "run_evaluation" / f"official-{preds}" / model / iid / "report.json"
            assert a.exists() == b.exists()
            if a.exists():
                assert json.loads(a.read_text()) == json.loads(b.read_text())


def test_report_formats_and_unknown_run(tmp_path: Path, fx: bench_fixture.FixtureBench) -> None:
    out = tmp_path / "out"
    _start(fx, out, "--evaluate", str(fx.preds["mixed.json"]), "--run-id", "rep", rc=1)
    md = run_cli("bench", "report", "rep", "--markdown")
    assert md.returncode == 0 and "| fixture/mixed | 25.0% | 1 | 4 | 1 | 1 |" in md.stdout
    # under the leaderboard, one row per instance with its reason
    assert (
        "| acme__calc-3 | fixture/mixed | unresolved | 1/1 | 1/2 | PASS_TO_PASS broken: tests/test_ops.py::test_add |"
        in md.stdout
    )
    assert "| acme__calc-2 | fixture/mixed | empty | - | - | empty patch (not run) |" in md.stdout
    line4 = next(line for line in md.stdout.splitlines() if line.startswith("| acme__calc-4 "))
    assert "| error |" in line4 and "patch did not apply" in line4
    csv_out = run_cli("bench", "report", "rep", "--csv").stdout.splitlines()
    assert csv_out[0].startswith("model_name_or_path,resolved_pct,resolved,instances")
    data = json.loads(run_cli("bench", "report", "rep", "--json").stdout)
    assert data["leaderboard"][0]["resolved"] == 1 and data["leaderboard"][0]["cost_total"] is None
    bad = run_cli("bench", "report", "nope")
    assert bad.returncode == 2 and "no such bench run" in bad.stderr
