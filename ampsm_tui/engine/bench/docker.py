"""`--grader docker`: the run handed to the official harness (`swebench.harness.run_evaluation`),
then its per-instance reports imported, so users with Docker get the official numbers through the
same CLI, store and leaderboard.

The official harness writes `logs/run_evaluation/<run_id>/<model>/<instance>/report.json` under
its working directory; it runs with the report dir as working directory, which is exactly where
the local grader writes the same files, so the summary and the import read one layout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from ..errors import UsageError
from . import markers as m
from . import proc
from .dataset import Instance, write_instances
from .evaluate import EvalOutcome, _unresolved_reason, instance_log_dir
from .predictions import Prediction, write_predictions


def docker_problem() -> str | None:
    """Why Docker cannot run the official harness here, or None when it can."""
    try:
        import swebench.harness.run_evaluation  # noqa: F401
    except Exception as exc:
        return f"the official harness is not installed (pip install 'ampsm-tui[swebench]'): {exc}"
    exe = shutil.which("docker")
    if exe is None:
        return "the docker command is not installed"
    try:
        res = subprocess.run(
            [exe, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`docker info` failed: {exc}"
    if res.returncode != 0:
        lines = [ln for ln in (res.stderr or res.stdout).strip().splitlines() if ln.strip()]
        return "no Docker engine is running (`docker info`: " + (lines[-1] if lines else f"exit {res.returncode}") + ")"
    return None


def require_docker() -> None:
    problem = docker_problem()
    if problem:
        raise UsageError(f"--grader docker needs Docker and the official harness: {problem}; or use --grader local")


def import_reports(
    report_dir: Path, run_id: str, predictions: Iterable[Prediction], harness_log: str = ""
) -> dict[str, EvalOutcome]:
    """Each prediction's outcome from the official harness's files: report.json present → resolved
    or unresolved (with the failing test names); absent → error, with the end of the instance's
    run_instance.log (or of the harness's own output) as the reason."""
    out: dict[str, EvalOutcome] = {}
    for pred in predictions:
        iid = pred.instance_id
        log_dir = instance_log_dir(report_dir, run_id, pred.model_name_or_path, iid)
        outcome = EvalOutcome(iid, pred.model_name_or_path, "error", log_dir=log_dir)
        if pred.is_empty:
            outcome.status, outcome.reason = "empty", "empty patch (not run)"
            out[iid] = outcome
            continue
        report_path = log_dir / m.LOG_REPORT
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
            entry = report[iid]
            resolved = bool(entry["resolved"])
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            instance_log = log_dir / m.LOG_INSTANCE
            text = instance_log.read_text(encoding="utf-8", errors="replace") if instance_log.is_file() else harness_log
            lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
            outcome.reason = "official harness wrote no report: " + (" | ".join(lines[-3:]) if lines else "(no log)")
            out[iid] = outcome
            continue
        outcome.report = report
        outcome.status = "resolved" if resolved else "unresolved"
        outcome.reason = None if resolved else _unresolved_reason(entry)
        out[iid] = outcome
    return out


async def run_official(
    instances: list[Instance],
    predictions: list[Prediction],
    *,
    report_dir: Path,
    run_id: str,
    workers: int,
    timeout: float | None,
) -> dict[str, EvalOutcome]:
    """Hand the predictions to the official harness (one process, its own workers), then import."""
    require_docker()
    report_dir.mkdir(parents=True, exist_ok=True)
    work = report_dir / f".ampsm-docker-{run_id}"
    work.mkdir(exist_ok=True)
    dataset = write_instances(work / "dataset.jsonl", instances)
    preds_path = write_predictions(work / "predictions.jsonl", predictions)
    argv = [
        sys.executable, "-m", "swebench.harness.run_evaluation",
        "--dataset_name", str(dataset),
        "--predictions_path", str(preds_path),
        "--run_id", run_id,
        "--max_workers", str(workers),
        "--timeout", str(int(timeout or 1800)),
        "--report_dir", str(report_dir),
    ]  # fmt: skip
    res = await proc.run(argv, cwd=report_dir, timeout=None)
    (work / "run_evaluation.log").write_text(res.output, encoding="utf-8")
    return import_reports(report_dir, run_id, predictions, res.output)
