"""The run summary `<model>.<run_id>.json` (the official `make_run_report`, key for key) and the
leaderboard that compares agents and models on the same instances."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import markers as m
from .dataset import Instance
from .evaluate import instance_log_dir, run_log_dir
from .grading import classify_text
from .models import BenchInstance, InstanceStatus
from .predictions import Prediction, model_dir_name

UNPRICED = "unpriced"


def summarize(
    predictions: Mapping[str, Prediction],
    dataset: Iterable[Instance],
    run_id: str,
    report_dir: Path,
    error_reasons: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What the official harness computes, from the same files: report.json present → completed
    (resolved or not); absent → error; empty patch → empty; no prediction → incomplete."""
    full = list(dataset)
    completed: set[str] = set()
    resolved: set[str] = set()
    unresolved: set[str] = set()
    errors: set[str] = set()
    incomplete: set[str] = set()
    empty: set[str] = set()
    for inst in full:
        iid = inst.instance_id
        pred = predictions.get(iid)
        if pred is None:
            incomplete.add(iid)
            continue
        if pred.is_empty:
            empty.add(iid)
            continue
        report_file = instance_log_dir(report_dir, run_id, pred.model_name_or_path, iid) / m.LOG_REPORT
        if not report_file.exists():
            errors.add(iid)
            continue
        completed.add(iid)
        try:
            content = report_file.read_text(encoding="utf-8").strip()
            if not content:
                errors.add(iid)
                continue
            (resolved if json.loads(content)[iid]["resolved"] else unresolved).add(iid)
        except (json.JSONDecodeError, KeyError, TypeError):
            errors.add(iid)
    reasons: dict[str, str] = {}
    infra: set[str] = set()
    ambiguous: set[str] = set()
    for iid in unresolved | errors:
        pred = predictions[iid]
        log_dir = instance_log_dir(report_dir, run_id, pred.model_name_or_path, iid)
        text = "\n".join(
            p.read_text(encoding="utf-8", errors="replace")
            for p in (log_dir / m.LOG_TEST_OUTPUT, log_dir / m.LOG_INSTANCE)
            if p.exists()
        )
        found = classify_text(text)
        if found:
            reasons[iid] = found[0]
            (infra if found[1] == "environment" else ambiguous).add(iid)
    return {
        "total_instances": len(full),
        "submitted_instances": len(predictions),
        "completed_instances": len(completed),
        "resolved_instances": len(resolved),
        "unresolved_instances": len(unresolved),
        "infra_failure_instances": len(infra),
        "ambiguous_failure_instances": len(ambiguous),
        "empty_patch_instances": len(empty),
        "error_instances": len(errors),
        "completed_ids": sorted(completed),
        "incomplete_ids": sorted(incomplete),
        "empty_patch_ids": sorted(empty),
        "submitted_ids": sorted(predictions),
        "resolved_ids": sorted(resolved),
        "unresolved_ids": sorted(unresolved),
        "infra_failure_ids": sorted(infra),
        "ambiguous_failure_ids": sorted(ambiguous),
        "failure_reasons": dict(sorted(reasons.items())),
        "error_ids": sorted(errors),
        # ampsm's addition: why each errored instance has no report.json (no interpreter, the
        # environment's pip error, patch did not apply, repository missing, ...)
        "error_reasons": {iid: (error_reasons or {}).get(iid, "") for iid in sorted(errors)},
        "schema_version": 2,
    }


def summary_path(report_dir: Path, model_name_or_path: str, run_id: str) -> Path:
    return report_dir / f"{model_dir_name(model_name_or_path)}.{run_id}.json"


def write_summary(
    predictions: Mapping[str, Prediction],
    dataset: Iterable[Instance],
    run_id: str,
    report_dir: Path,
    reasons: Mapping[str, str] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """All predictions here are of one model (one summary per model, as the official harness)."""
    summary = summarize(predictions, dataset, run_id, report_dir, reasons)
    model = next(iter(predictions.values())).model_name_or_path if predictions else "None"
    path = summary_path(report_dir, model, run_id)
    report_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=4) + "\n", encoding="utf-8")
    return path, summary


def run_metadata(report_dir: Path, run_id: str, data: dict[str, Any]) -> Path:
    path = run_log_dir(report_dir, run_id) / "run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


# -- leaderboard ------------------------------------------------------------------------------


@dataclass
class LeaderRow:
    model_name_or_path: str
    agent: str | None
    model: str | None
    instances: int
    graded: int
    resolved: int
    resolved_pct: float
    errors: int
    empty: int
    median_s: float | None
    p90_s: float | None
    tokens_per_instance: float | None
    tokens_per_resolved: float | None
    cost_per_instance: float | str | None  # "unpriced" when some agent turn could not be priced
    cost_per_resolved: float | str | None
    cost_total: float | str | None
    iterations_per_instance: float | None
    uniquely_resolved: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile: a value that occurred, not an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def leaderboard(rows: Iterable[BenchInstance]) -> list[LeaderRow]:
    groups: dict[str, list[BenchInstance]] = {}
    for row in rows:
        groups.setdefault(row.model_name_or_path, []).append(row)
    resolved_by: dict[str, set[str]] = {}
    for name, items in groups.items():
        for r in items:
            if r.status == InstanceStatus.RESOLVED:
                resolved_by.setdefault(r.instance_id, set()).add(name)
    out: list[LeaderRow] = []
    for name, items in groups.items():
        n = len(items)
        resolved = [r for r in items if r.status == InstanceStatus.RESOLVED]
        ran_agent = [r for r in items if r.session_id is not None]
        times = [r.duration_s for r in items if r.duration_s is not None and r.status.finished]
        tokens = sum(r.total_tokens for r in ran_agent)
        if not ran_agent:
            cost: float | str | None = None
        elif any(r.cost_usd is None for r in ran_agent):
            cost = UNPRICED
        else:
            cost = sum(r.cost_usd or 0.0 for r in ran_agent)
        first = items[0]
        out.append(
            LeaderRow(
                model_name_or_path=name,
                agent=first.agent,
                model=first.model,
                instances=n,
                graded=sum(1 for r in items if r.status in (InstanceStatus.RESOLVED, InstanceStatus.UNRESOLVED)),
                resolved=len(resolved),
                resolved_pct=round(100.0 * len(resolved) / n, 2) if n else 0.0,
                errors=sum(1 for r in items if r.status == InstanceStatus.ERROR),
                empty=sum(1 for r in items if r.status == InstanceStatus.EMPTY),
                median_s=statistics.median(times) if times else None,
                p90_s=_percentile(times, 90),
                tokens_per_instance=tokens / len(ran_agent) if ran_agent else None,
                tokens_per_resolved=tokens / len(resolved) if ran_agent and resolved else None,
                cost_per_instance=cost / len(ran_agent) if isinstance(cost, float) else cost,
                cost_per_resolved=(cost / len(resolved) if resolved else None) if isinstance(cost, float) else cost,
                cost_total=cost,
                iterations_per_instance=sum(r.iterations for r in ran_agent) / len(ran_agent) if ran_agent else None,
                uniquely_resolved=sorted(
                    r.instance_id for r in resolved if resolved_by.get(r.instance_id) == {name} and len(groups) > 1
                ),
            )
        )
    out.sort(key=lambda r: (-r.resolved_pct, r.model_name_or_path))
    return out


COLUMNS = (
    ("model_name_or_path", "agent/model"),
    ("resolved_pct", "resolved %"),
    ("resolved", "resolved"),
    ("instances", "instances"),
    ("errors", "errors"),
    ("empty", "empty"),
    ("median_s", "median s"),
    ("p90_s", "p90 s"),
    ("tokens_per_instance", "tokens/inst"),
    ("tokens_per_resolved", "tokens/resolved"),
    ("cost_per_instance", "$/inst"),
    ("cost_per_resolved", "$/resolved"),
    ("iterations_per_instance", "iters/inst"),
    ("uniquely_resolved", "only this one resolved"),
)


def fmt(key: str, value: Any) -> str:
    """One cell as text: unknown is "-", unpriced stays "unpriced", never 0."""
    if value is None:
        return "-"
    if isinstance(value, list):
        return " ".join(value) if value else "-"
    if isinstance(value, str):
        return value
    if key.startswith("cost"):
        return f"${value:.4f}"
    if key.endswith("_s"):
        return f"{value:.1f}"
    if key == "resolved_pct":
        return f"{value:.1f}%"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def to_markdown(rows: list[LeaderRow]) -> str:
    head = "| " + " | ".join(label for _, label in COLUMNS) + " |"
    sep = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(fmt(k, getattr(r, k)) for k, _ in COLUMNS) + " |" for r in rows]
    return "\n".join([head, sep, *body]) + "\n"


def to_csv(rows: list[LeaderRow]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([k for k, _ in COLUMNS])
    for r in rows:
        writer.writerow(
            [" ".join(v) if isinstance(v := getattr(r, k), list) else ("" if v is None else v) for k, _ in COLUMNS]
        )
    return buf.getvalue()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def instance_reason(row: BenchInstance) -> str:
    """Why an instance ended as it did, in words: the failing test names, the patch that did not
    apply, the environment that could not be built (the row's recorded reason)."""
    status = str(row.status)
    if status == InstanceStatus.RESOLVED:
        return ""
    if status == InstanceStatus.EMPTY:
        return row.reason or "empty patch (not run)"
    return row.reason or "-"


def instances_markdown(rows: Iterable[BenchInstance]) -> str:
    """One row per instance under the leaderboard: status, FAIL_TO_PASS / PASS_TO_PASS counts, reason."""
    head = "| instance | agent/model | status | FAIL_TO_PASS | PASS_TO_PASS | reason |"
    sep = "|---|---|---|---|---|---|"
    body = []
    for r in rows:
        f2p = f"{r.f2p_passed}/{r.f2p_total}" if r.f2p_total is not None else "-"
        p2p = f"{r.p2p_passed}/{r.p2p_total}" if r.p2p_total is not None else "-"
        cells = [r.instance_id, r.model_name_or_path, str(r.status), f2p, p2p, instance_reason(r)]
        body.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join([head, sep, *body]) + "\n"
