"""batch start|status|list|abort|resume|export."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import format as fmt
from .argtypes import positive_float
from .context import Context
from .registry import arg, command, group

if TYPE_CHECKING:
    from ..engine.engine import Engine
    from ..engine.models import BatchRun

group("batch", "run a YAML batch of prompts across repositories")

#: `batch export` columns (a stable contract: appended to, never renamed or removed).
BATCH_ITEM_COLUMNS = (
    "batch_id",
    "item_id",
    "ordinal",
    "name",
    "repo_path",
    "base_branch",
    "agent",
    "model",
    "status",
    "attempts",
    "error",
    "session_id",
    "branch",
    "iterations",
    "input_tokens",
    "output_tokens",
    "cache_tokens",
    "cost_usd",
    "test_exit_code",
    "started_at",
    "ended_at",
    "node_host",
    "node_id",
)


def _concurrency(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 1 <= n <= 256:
        raise argparse.ArgumentTypeError(f"must be between 1 and 256, got {n}")
    return n


async def resolve_batch(ctx: Context, ref: str) -> BatchRun:
    """An id or a unique prefix of one (`batch-1a2` or `1a2`): the engine's rule, over the store only."""
    from ..engine.batches import resolve_batch as resolve

    return await resolve(await ctx.store(), ref)


async def _engine(ctx: Context) -> Engine:
    return await ctx.engine()


def _cost(value: float | None, unpriced: int = 0) -> str:
    return fmt.cost(value, unpriced=unpriced)


def _elapsed(row: dict[str, Any]) -> float | None:
    from ..engine.clock import parse_iso, utcnow

    if not row.get("started_at"):
        return None
    end = parse_iso(row["ended_at"]) if row.get("ended_at") else utcnow()
    return max(0.0, (end - parse_iso(row["started_at"])).total_seconds())


def _fmt_secs(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def summarize(run: BatchRun, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts, totals and an ETA (mean finished-item time × remaining ÷ concurrency)."""
    from ..engine.scheduler import is_stalled

    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    finished = [r for r in rows if r["status"] in ("succeeded", "failed", "error")]
    durations = [d for d in (_elapsed(r) for r in finished) if d is not None]
    remaining = len(rows) - len(finished)
    eta = None
    if durations and remaining and run.status == "running":
        eta = sum(durations) / len(durations) * remaining / max(1, run.concurrency)
    priced = [r["cost_usd"] for r in rows if r["cost_usd"] is not None]
    return {
        "batch": run.model_dump(mode="json"),
        "stalled": is_stalled(run),
        "total": len(rows),
        "finished": len(finished),
        "counts": counts,
        "input_tokens": sum(r["input_tokens"] for r in rows),
        "output_tokens": sum(r["output_tokens"] for r in rows),
        "cost_usd": sum(priced) if priced else None,
        "unpriced": sum(r["unpriced"] for r in rows),
        "eta_s": eta,
        # items waiting for an agent's usage limit to reset (they run again by themselves)
        "paused": [{"item_id": r["id"], "agent": r["agent"], "note": r["error"]} for r in rows if _is_paused(r)],
    }


def _is_paused(row: dict[str, Any]) -> bool:
    from ..engine.limits import item_state

    return item_state(row["status"], row.get("error")) == "paused"


def render_status(run: BatchRun, rows: list[dict[str, Any]]) -> Any:
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    info = summarize(run, rows)
    colors = {
        "succeeded": "green",
        "failed": "red",
        "error": "red",
        "running": "yellow",
        "aborted": "magenta",
        "pending": "dim",
    }
    status = "stalled (owner died: `ampsm batch resume`)" if info["stalled"] else str(run.status)
    head = Text.assemble(
        (f"{run.id} ", "bold"),
        f"{run.name}  ",
        (status, colors.get(str(run.status), "")),
        f"  {info['finished']}/{info['total']} finished, concurrency {run.concurrency}",
        f"  tokens {info['input_tokens'] + info['output_tokens']}  cost {_cost(info['cost_usd'], info['unpriced'])}",
        f"  ETA {_fmt_secs(info['eta_s'])}" if info["eta_s"] is not None else "",
    )
    bar = ProgressBar(total=max(1, info["total"]), completed=info["finished"], width=60)
    table = Table(box=None, pad_edge=False, header_style="bold")
    remote = any(r.get("node_id") for r in rows)  # run on a Ray cluster: which node ran which item
    columns = ("#", "item", "repo", "status", "elapsed", "tokens", "cost", "session", *(("node",) if remote else ()))
    for col in (*columns, "note"):
        table.add_column(col, no_wrap=col != "note", overflow="fold")
    for r in rows:
        node = (r.get("node_host") or "-", f"{r['node_id'][:8]}" if r.get("node_id") else "")
        table.add_row(
            str(r["ordinal"]),
            r["name"],
            Path(r["repo_path"]).name,
            Text("paused", style="cyan") if _is_paused(r) else Text(r["status"], style=colors.get(r["status"], "")),
            _fmt_secs(_elapsed(r)),
            str(r["input_tokens"] + r["output_tokens"]),
            _cost(r["cost_usd"], r["unpriced"]),
            r["session_id"] or "-",
            *((" ".join(p for p in node if p),) if remote else ()),
            (r["error"] or "")[:60],
        )
    return Group(head, bar, table)


def _check_executor(args: argparse.Namespace, ctx: Context) -> None:
    """Before anything is created: `--address` means a Ray cluster."""
    from ..engine.errors import UsageError

    if args.address and (args.executor or ctx.config.batch.executor) != "ray":
        raise UsageError("--address is for --executor ray")


def _executor_args() -> list[Any]:
    return [
        arg(
            "--executor",
            choices=("local", "ray"),
            help="where items run: local (this process) or ray (tasks on a Ray cluster); default: batch.executor",
        ),
        arg("--address", help="the Ray cluster to join (--executor ray; default: ray.address, else a local one)"),
    ]


async def _run_batch(
    ctx: Context,
    engine: Engine,
    run: BatchRun,
    concurrency: int | None,
    executor: str | None = None,
    address: str | None = None,
) -> int:
    """Run (or resume) a batch in this process through the engine's BatchService; this face only
    shows progress and the summary, and turns Ctrl-C / SIGTERM into a clean stop."""
    import asyncio
    import signal

    from ..engine.events import BatchProgress, Event

    if not ctx.json:

        async def on_progress(event: Event) -> None:
            if isinstance(event, BatchProgress) and event.item_id and event.item_status != "running":
                item = await engine.store.get_batch_item(event.item_id)
                what = f"{item.name} on {Path(item.repo_path).name}" if item else event.item_id
                note = f": {item.error}" if item and item.error else ""
                ctx.print(f"[{event.done}/{event.total}] {what} {event.item_status}{note}", markup=False)

        engine.bus.subscribe("batch.progress", on_progress)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, engine.batches.stop, run.id)
    try:
        result = await engine.batches.run(run, concurrency, executor=executor, address=address)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    rows = await engine.store.batch_item_stats(run.id)
    info = summarize(result, rows)
    if ctx.json:
        ctx.emit_json({**info, "items": rows})
    else:
        ctx.print(
            f"batch {result.id} {result.status}: {info['counts'].get('succeeded', 0)} succeeded, "
            f"{info['counts'].get('failed', 0) + info['counts'].get('error', 0)} failed of {info['total']}"
            f", cost {_cost(info['cost_usd'], info['unpriced'])}"
        )
        if result.status == "aborted":
            ctx.print(f"resume with: ampsm batch resume {result.id}")
    if result.status == "aborted":
        return 130
    return 0 if info["counts"].get("succeeded", 0) == info["total"] else 1


@command(
    "batch start",
    "validate a batch file and run it (every item on every repo, at most N at once)",
    arg("--file", "-f", required=True, help="the batch YAML"),
    arg("--concurrency", "-c", type=_concurrency, help="override the file's concurrency (default: batch.concurrency)"),
    arg("--dry-run", action="store_true", help="validate and print the plan; start nothing"),
    *_executor_args(),
    json=True,
)
async def batch_start(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine.batch import load_batch, plan_table
    from ..engine.errors import UsageError
    from ..engine.yamlsrc import YamlSourceError

    try:
        plan = load_batch(Path(args.file), default_base=ctx.config.git.default_base_branch)
    except YamlSourceError as exc:
        raise UsageError(str(exc)) from None
    concurrency = plan.concurrency(args.concurrency, ctx.config.batch.concurrency)
    _check_executor(args, ctx)
    if args.dry_run:
        from ..engine.secrets import scrub

        # the plan is printed: keys written into a prompt or script are redacted like everywhere else
        rows = [{k: scrub(v) if isinstance(v, str) else v for k, v in r.items()} for r in plan_table(plan)]
        if ctx.json:
            ctx.emit_json({"name": plan.file.name, "concurrency": concurrency, "items": rows})
        else:
            from rich.table import Table

            table = Table(title=f"{plan.file.name}: {len(rows)} sessions, concurrency {concurrency} (dry run)")
            for col in ("#", "item", "repo", "base", "agent", "model", "script", "timeout"):
                table.add_column(col)
            for r in rows:
                table.add_row(
                    str(r["ordinal"]),
                    r["name"],
                    r["repo"],
                    r["base"],
                    r["agent"],
                    r["model"] or "-",
                    r["script"] or "-",
                    f"{r['timeout_s']:g}s" if r["timeout_s"] else "-",
                )
            ctx.print(table)
        return 0
    engine = await _engine(ctx)
    run = await engine.batches.create(plan, concurrency)
    if not ctx.json:
        ctx.print(f"batch {run.id}: {len(plan.items)} sessions, concurrency {concurrency}")
    return await _run_batch(ctx, engine, run, concurrency, args.executor, args.address)


@command(
    "batch resume",
    "run the items of a batch that did not finish (after abort, Ctrl-C or a killed process)",
    arg("batch_id", metavar="ID"),
    arg("--concurrency", "-c", type=_concurrency, help="override the batch's concurrency"),
    *_executor_args(),
    json=True,
)
async def batch_resume(args: argparse.Namespace, ctx: Context) -> int:
    _check_executor(args, ctx)
    engine = await _engine(ctx)
    run = await engine.batches.resolve(args.batch_id)
    return await _run_batch(ctx, engine, run, args.concurrency, args.executor, args.address)


@command(
    "batch status",
    "a batch's items: status, elapsed, tokens, cost; --follow for a live view",
    arg("batch_id", metavar="ID"),
    arg("--follow", action="store_true", help="refresh until the batch ends"),
    arg("--interval", type=positive_float, default=1.0, help="refresh period for --follow, in seconds"),
    json=True,
)
async def batch_status(args: argparse.Namespace, ctx: Context) -> int:
    import asyncio

    from ..engine.scheduler import is_stalled

    run = await resolve_batch(ctx, args.batch_id)
    store = await ctx.store()
    rows = await store.batch_item_stats(run.id)
    if ctx.json:
        ctx.emit_json({**summarize(run, rows), "items": rows})
        return 0
    if not args.follow:
        ctx.print(render_status(run, rows))
        return 0
    from rich.live import Live

    with Live(render_status(run, rows), console=ctx.console, refresh_per_second=4, transient=False) as live:
        while run.status in ("running", "pending") and not is_stalled(run):
            await asyncio.sleep(max(0.1, args.interval))
            fresh = await store.get_batch(run.id)
            if fresh is None:
                break
            run = fresh
            rows = await store.batch_item_stats(run.id)
            live.update(render_status(run, rows))
    return 0


@command("batch list", "batches, newest first, with their progress", json=True)
async def batch_list(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine.scheduler import is_stalled

    store = await ctx.store()
    out = []
    for run in await store.list_batches():
        counts = await store.batch_counts(run.id)
        out.append(
            {**run.model_dump(mode="json", exclude={"definition"}), "counts": counts, "stalled": is_stalled(run)}
        )
    if ctx.json:
        ctx.emit_json(out)
        return 0
    if not out:
        ctx.print("no batches")
        return 0
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("id", "name", "status", "progress", "created"):
        table.add_column(col)
    for b in out:
        total = sum(b["counts"].values())
        done = b["counts"].get("succeeded", 0) + b["counts"].get("failed", 0)
        status = "stalled" if b["stalled"] else b["status"]
        table.add_row(b["id"], b["name"], status, f"{done}/{total}", b["created_at"])
    ctx.print(table)
    return 0


@command(
    "batch abort",
    "stop a batch: running agents are terminated, finished work stays",
    arg("batch_id", metavar="ID"),
    json=True,
)
async def batch_abort(args: argparse.Namespace, ctx: Context) -> int:
    engine = await _engine(ctx)
    result, counts = await engine.batches.abort(args.batch_id)
    if ctx.json:
        ctx.emit_json({"batch": result.model_dump(mode="json", exclude={"definition"}), "counts": counts})
    else:
        ctx.print(f"batch {result.id} aborted ({counts}); resume with: ampsm batch resume {result.id}")
    return 0


@command(
    "batch export",
    "write a batch's items with their sessions' totals as CSV or JSONL into a folder",
    arg("batch_id", metavar="ID"),
    arg("--format", choices=("csv", "jsonl"), default="csv", help="file format"),
    arg("--out", required=True, help="output folder (created if missing)"),
    json=True,
)
async def batch_export(args: argparse.Namespace, ctx: Context) -> int:
    import json
    import os

    from ..engine.telemetry import write_csv

    run = await resolve_batch(ctx, args.batch_id)
    store = await ctx.store()
    rows = [{**r, "batch_id": run.id, "item_id": r["id"]} for r in await store.batch_item_stats(run.id)]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{run.id}.{args.format}"
    tmp = target.with_name(target.name + ".tmp")
    if args.format == "csv":
        write_csv(tmp, BATCH_ITEM_COLUMNS, rows)
    else:
        with open(tmp, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps({c: r.get(c) for c in BATCH_ITEM_COLUMNS}, ensure_ascii=False) + "\n")
    os.replace(tmp, target)
    if ctx.json:
        ctx.emit_json({"file": str(target), "rows": len(rows), "columns": list(BATCH_ITEM_COLUMNS)})
    else:
        ctx.print(f"wrote {len(rows)} rows to {target}")
    return 0
