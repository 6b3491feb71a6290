"""metrics, usage, export, telemetry prune."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import format as fmt
from .context import Context
from .registry import arg, command, group

group("telemetry", "telemetry maintenance")


def _cost(value: float | None, unpriced: int = 0) -> str:
    return fmt.cost(value, unpriced=unpriced)


def _ms(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f}s"


@command(
    "metrics",
    "per-iteration metrics of a session: duration, tokens, cost, tool calls, files, tests",
    arg("session", metavar="ID", help="session id or unique prefix"),
    json=True,
)
async def metrics(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine.telemetry import session_metrics

    data = await session_metrics(await ctx.store(), args.session)
    if ctx.json:
        ctx.emit_json(data)
        return 0
    from rich.table import Table

    s = data["session"]
    table = Table(title=f"{s['id']} {s['name']} ({s['status']})", header_style="bold", box=None)
    for col in ("#", "status", "time", "in", "out", "cache", "cost", "files", "+/-", "test"):
        table.add_column(col, no_wrap=True)
    tool_lines = []
    for it in data["iterations"]:
        test = (
            "-"
            if it["test_exit_code"] is None
            else ("pass" if it["test_exit_code"] == 0 else f"fail {it['test_exit_code']}")
        )
        table.add_row(
            str(it["number"]),
            it["status"],
            _ms(it["duration_ms"]),
            str(it["input_tokens"]),
            str(it["output_tokens"]),
            str(it["cache_creation_tokens"] + it["cache_read_tokens"]),
            fmt.iteration_cost(
                it["cost_usd"],
                it["input_tokens"] + it["output_tokens"] + it["cache_creation_tokens"] + it["cache_read_tokens"],
            ),
            str(it["files_changed"]),
            f"+{it['lines_added']}/-{it['lines_removed']}",
            test,
        )
        if it["tools"]:
            calls = ", ".join(
                f"{t['name']}×{t['calls']} ({_ms(t['total_ms'])}" + (f", {t['failed']} failed)" if t["failed"] else ")")
                for t in it["tools"]
            )
            tool_lines.append(f"  #{it['number']} tools: {calls}")
    ctx.print(table)
    for line in tool_lines:
        ctx.print(line, markup=False)
    t = data["totals"]
    ctx.print(
        f"{t['iterations']} iterations, {t['input_tokens']} in / {t['output_tokens']} out / {t['cache_tokens']} cache tokens,"
        f" {t['tool_calls']} tool calls, cost {_cost(t['cost_usd'], t['unpriced'])}"
    )
    return 0


@command(
    "usage",
    "token and cost totals from the stored iterations, optionally grouped",
    arg("--model", help="only this model"),
    arg("--since", help="from this date/time (2024-11-01, ISO time, or a duration back like 7d)"),
    arg("--until", help="up to this date (inclusive) or time (exclusive)"),
    arg("--by", choices=("model", "day", "repo"), help="group the totals"),
    json=True,
)
async def usage(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine import telemetry

    report = await telemetry.usage(await ctx.store(), model=args.model, since=args.since, until=args.until, by=args.by)
    if ctx.json:
        ctx.emit_json(report)
        return 0
    from rich.table import Table

    table = Table(header_style="bold", box=None)
    table.add_column(args.by or "", no_wrap=True, overflow="fold")
    for col in ("iters", "sessions", "input", "output", "cache w", "cache r", "cost", "unpriced"):
        table.add_column(col, justify="right", no_wrap=True)
    rows = [*report["rows"], {**report["total"], "key": "total"}] if args.by else [report["total"]]
    for r in rows:
        table.add_row(
            str(r["key"]),
            str(r["iterations"]),
            str(r["sessions"]),
            str(r["input_tokens"]),
            str(r["output_tokens"]),
            str(r["cache_creation_tokens"]),
            str(r["cache_read_tokens"]),
            fmt.cost(r["cost_usd"], unpriced=0),
            str(r["unpriced"]),
        )
    ctx.print(table)
    return 0


@command(
    "export",
    "export sessions, iterations and tool calls (JSONL: one file with a `record` field; CSV: one file per record)",
    arg("--format", choices=("jsonl", "csv"), default="jsonl", help="file format"),
    arg("--out", required=True, help="output file (CSV writes <stem>.sessions.csv, .iterations.csv, .tool_calls.csv)"),
    arg("--since", help="only rows created/started since (date, ISO time or duration like 30d)"),
    json=True,
)
async def export(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine import telemetry

    result = await telemetry.export(await ctx.store(), args.format, Path(args.out), since=args.since)
    if ctx.json:
        ctx.emit_json(result)
    else:
        counts = ", ".join(f"{n} {table}" for table, n in result["counts"].items())
        ctx.print(f"wrote {counts} to {', '.join(result['files'])}")
    return 0


@command("telemetry prune", "delete tool-call detail and raw agent logs older than telemetry.retention_days", json=True)
async def prune(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine import telemetry

    result = await telemetry.prune(await ctx.store(), ctx.config)
    if ctx.json:
        ctx.emit_json(result)
    else:
        ctx.print(
            f"pruned {result['tool_calls_deleted']} tool calls and {result['raw_logs_removed']} raw logs older than {result['cutoff']}"
        )
    return 0
