"""bench start | report | list | custom: SWE-bench-format runs, local grading, leaderboards."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .argtypes import positive_float, positive_int
from .context import Context
from .registry import arg, command, group

if TYPE_CHECKING:
    from ..engine.bench.models import BenchInstance
    from ..engine.bench.options import AgentSpec, RunOptions
    from ..engine.bench.runner import RunResult

group("bench", "benchmarks: run agents over SWE-bench-format instances, grade locally, compare")

_COMMON = (
    arg("--run-id", help="the run's id (generated when absent); the same id resumes a run"),
    arg("--report-dir", help="where <model>.<run_id>.json and logs/run_evaluation/ go (default: .)"),
    arg("--repos-dir", help="folder of clones named like owner__repo"),
    arg(
        "--env-cmd",
        help='override: this python runs every row\'s tests, e.g. "/path/venv/bin/python" (default: an environment'
        " built from the official spec of each row's repo and version)",
    ),
    arg("--workers", type=positive_int, help="instances at once (default 1)"),
    arg("--timeout", type=positive_float, help="test timeout per instance, seconds (default 1800)"),
    arg("--agent-timeout", type=positive_float, help="agent turn timeout per instance, seconds (default: amp.timeout)"),
    arg("--max-cost", type=positive_float, help="stop starting instances once the run has cost this many dollars"),
    arg("--redo", action="store_true", help="run instances already graded in this run id again"),
    arg("--instance-ids", nargs="+", metavar="ID", help="only these instances (space or comma separated)"),
    arg("--limit", type=positive_int, help="at most N instances (after --shuffle)"),
    arg("--shuffle", action="store_true", help="shuffle the instances (with --seed for a repeatable order)"),
    arg("--seed", type=int, help="seed for --shuffle"),
    arg(
        "--grader",
        choices=["local", "official", "auto", "docker"],
        help="grade with ours or the official package's grader; docker: hand the run to the official harness",
    ),
)
_AGENTS = (
    arg("--agent", action="append", metavar="A", help="agent to run (repeat to compare agents; default amp)"),
    arg("--agent-cmd", action="append", metavar="CMD", help="the command for --agent command (one per command agent)"),
    arg("--model", action="append", metavar="M", help="model (repeat; paired with --agent in order)"),
    arg("--predictions-only", action="store_true", help="run agents and write predictions; do not evaluate"),
    arg("--prompt-template", metavar="FILE", help="prompt template ({problem_statement}, {repo}, ... fields)"),
    arg(
        "--executor",
        choices=("local", "ray"),
        help="where the agents run: local (default) or ray (tasks on a Ray cluster; grading stays here)",
    ),
    arg("--address", help="the Ray cluster to join (--executor ray; default: ray.address, else a local one)"),
)


def agent_specs(agents: list[str] | None, cmds: list[str] | None, models: list[str] | None) -> list[AgentSpec]:
    """Pairs: equal counts of --agent and --model pair up in order; one of either applies to all
    the others; otherwise every agent runs with every model. Each --agent-cmd goes to the next
    `command` agent in order (one given for several: all share it)."""
    from ..engine.bench.options import AgentSpec
    from ..engine.errors import UsageError

    names = agents or ["amp"]
    mods: list[str | None] = list(models) if models else [None]
    if len(mods) == len(names):
        pairs = list(zip(names, mods, strict=True))
    elif len(mods) == 1:
        pairs = [(a, mods[0]) for a in names]
    elif len(names) == 1:
        pairs = [(names[0], m) for m in mods]
    else:
        pairs = [(a, m) for a in names for m in mods]
    commands = list(cmds or [])
    n_command = sum(1 for a, _ in pairs if a == "command")
    if commands and n_command == 0:
        raise UsageError("--agent-cmd is only for --agent command")
    if n_command and not commands:
        raise UsageError('--agent command needs --agent-cmd "CMD"')
    if len(commands) not in (1, n_command):
        raise UsageError(f"{len(commands)} --agent-cmd for {n_command} command agents")
    specs: list[AgentSpec] = []
    used = 0
    for agent, model in pairs:
        cmd = None
        if agent == "command":
            cmd = commands[0] if len(commands) == 1 else commands[used]
            used += 1
        specs.append(AgentSpec(agent=agent, agent_cmd=cmd, model=model))
    names_seen = [s.name for s in specs]
    if len(set(names_seen)) != len(names_seen):
        raise UsageError("two agents with the same agent/model: give each a different --model")
    return specs


def _split_ids(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v for chunk in values for v in chunk.replace(",", " ").split() if v]


def build_options(args: argparse.Namespace, stored: RunOptions | None, *, kind: str = "swebench") -> RunOptions:
    """Command-line values over the stored run's (resume), over the defaults."""
    from ..engine.bench.models import BenchMode
    from ..engine.bench.options import RunOptions
    from ..engine.errors import UsageError

    base = stored.model_dump() if stored else {}
    given: dict[str, Any] = {"kind": kind}
    for key in (
        *("repos_dir", "env_cmd", "workers", "timeout", "agent_timeout", "max_cost", "limit", "seed", "grader"),
        *("executor", "address"),
    ):
        value = getattr(args, key, None)
        if value is not None:
            given[key] = value
    if getattr(args, "report_dir", None):
        given["report_dir"] = str(Path(args.report_dir).expanduser().resolve())
    elif not stored:
        given["report_dir"] = str(Path.cwd())
    if getattr(args, "shuffle", False):
        given["shuffle"] = True
    ids = _split_ids(getattr(args, "instance_ids", None))
    if ids:
        given["instance_ids"] = ids
    if getattr(args, "dataset", None):
        given["dataset"] = str(Path(args.dataset).expanduser().resolve())
    preds = getattr(args, "evaluate", None) or getattr(args, "predictions", None)
    if getattr(args, "evaluate", None) and getattr(args, "predictions", None):
        raise UsageError("give --evaluate or -p, not both")
    agents_given = bool(
        getattr(args, "agent", None) or getattr(args, "agent_cmd", None) or getattr(args, "model", None)
    )
    if preds:
        if agents_given or getattr(args, "predictions_only", False):
            raise UsageError("--evaluate/-p grades existing predictions: drop --agent/--model/--predictions-only")
        given["mode"] = BenchMode.EVALUATE
        given["predictions"] = preds if preds == "gold" else str(Path(preds).expanduser().resolve())
        given["agents"] = []
    elif agents_given or not stored:
        given["agents"] = agent_specs(args.agent, args.agent_cmd, args.model)
        given["mode"] = BenchMode.PREDICTIONS_ONLY if args.predictions_only else BenchMode.AGENTS
    elif getattr(args, "predictions_only", False):
        given["mode"] = BenchMode.PREDICTIONS_ONLY
    template = getattr(args, "prompt_template", None)
    if template:
        path = Path(template).expanduser()
        if not path.is_file():
            raise UsageError(f"prompt template not found: {path}")
        given["prompt_template"] = path.read_text(encoding="utf-8")
    return RunOptions.model_validate({**base, **given})


def _progress(ctx: Context) -> Any:
    def show(row: BenchInstance) -> None:
        if ctx.json:
            return
        colour = {"resolved": "green", "unresolved": "yellow", "error": "red", "empty": "dim"}.get(str(row.status), "")
        reason = f"  [dim]{row.reason}[/]" if row.reason and str(row.status) != "resolved" else ""
        status = f"[{colour}]{row.status}[/]" if colour else str(row.status)
        ctx.print(f"{row.instance_id:<32} {row.model_name_or_path:<24} {status}{reason}")

    return show


def _emit_result(ctx: Context, result: RunResult) -> None:
    if ctx.json:
        ctx.emit_json(
            {
                "run_id": result.run.id,
                "status": str(result.run.status),
                "report_dir": result.run.report_dir,
                "started": result.started,
                "summaries": result.summaries,
                "summary_paths": {k: str(v) for k, v in result.summary_paths.items()},
                "predictions_paths": {k: str(v) for k, v in result.predictions_paths.items()},
                "instances": [r.model_dump(mode="json", exclude={"model_patch"}) for r in result.rows],
            }
        )
        return
    ctx.print(f"run [bold]{result.run.id}[/] {result.run.status} ({result.started} instance(s) worked on this time)")
    for model, summary in result.summaries.items():
        ctx.print(
            f"  {model}: resolved {summary['resolved_instances']}/{summary['total_instances']}, "
            f"unresolved {summary['unresolved_instances']}, empty {summary['empty_patch_instances']}, "
            f"errors {summary['error_instances']} → {result.summary_paths[model]}"
        )
    for model, path in result.predictions_paths.items():
        ctx.print(f"  predictions {model}: {path}")


async def _start(args: argparse.Namespace, ctx: Context, *, kind: str) -> int:
    from ..engine.bench.models import BenchMode
    from ..engine.bench.runner import BenchRunner, options_from_run
    from ..engine.errors import UsageError

    store = await ctx.store()
    stored = None
    if args.run_id:
        run = await store.get_bench_run(args.run_id)
        stored = options_from_run(run) if run else None
    instances = None
    if kind == "custom":
        from ..engine.bench.custom import load_custom

        config_path = args.config or (stored.custom_config if stored else None)
        if not config_path:
            raise UsageError("give --config FILE.yaml")
        bench = load_custom(Path(config_path))
        options = build_options(args, stored, kind="custom")
        options.custom_config = str(Path(config_path).expanduser().resolve())
        if not (args.agent or args.agent_cmd or args.model) and bench.agents and not stored:
            options.agents = bench.agents
        if bench.prompt_template and not args.prompt_template:
            options.prompt_template = bench.prompt_template
        from ..engine.bench.dataset import select

        instances = select(
            bench.instances,
            instance_ids=options.instance_ids,
            limit=options.limit,
            shuffle=options.shuffle,
            seed=options.seed,
        )
    else:
        options = build_options(args, stored)
        if not options.dataset:
            raise UsageError("give --dataset FILE (.json or .jsonl)")
    engine = None
    if options.mode != BenchMode.EVALUATE:
        from ..engine.engine import Engine

        engine = await Engine.open(config=ctx.config, store=store)
    try:
        runner = BenchRunner(
            store,
            options,
            run_id=args.run_id,
            instances=instances,
            engine=engine,
            redo=args.redo,
            on_progress=_progress(ctx),
        )
        result = await runner.run()
    finally:
        if engine is not None:
            await engine.close()
    _emit_result(ctx, result)
    if result.errored:  # the run went on; its exit status still says that some could not be graded
        if not ctx.json:
            ctx.print(f"[red]{len(result.errored)} instance(s) errored[/] (reasons above and in each report)")
        return 1
    return 0


@command(
    "bench start",
    "run agents over a SWE-bench-format dataset and grade them locally (or grade predictions)",
    arg("--dataset", help="instances, .json or .jsonl (official SWE-bench format)"),
    *_AGENTS,
    arg("--evaluate", metavar="PREDS", help="grade this predictions file (.jsonl, .json list or dict) instead"),
    arg("-p", "--predictions", metavar="PREDS", help="same as --evaluate; `-p gold` grades the reference patches"),
    *_COMMON,
    json=True,
)
async def bench_start(args: argparse.Namespace, ctx: Context) -> int:
    return await _start(args, ctx, kind="swebench")


@command(
    "bench custom",
    "a custom benchmark: prompts on local repos, each with a check command (YAML file)",
    arg("--config", metavar="FILE", help="the benchmark YAML"),
    *_AGENTS,
    *_COMMON,
    json=True,
)
async def bench_custom(args: argparse.Namespace, ctx: Context) -> int:
    return await _start(args, ctx, kind="custom")


@command(
    "bench report",
    "leaderboard of a run: resolved %, time, tokens, cost, per agent/model",
    arg("run", metavar="RUN", help="the run id"),
    arg("--csv", action="store_true", help="leaderboard as CSV"),
    arg(
        "--markdown",
        action="store_true",
        help="leaderboard as a Markdown table, then one row per instance with its reason",
    ),
    json=True,
)
async def bench_report(args: argparse.Namespace, ctx: Context) -> int:
    import sys

    from .. import format as text
    from ..engine.bench.report import COLUMNS, fmt, instances_markdown, leaderboard, to_csv, to_markdown
    from ..engine.errors import UsageError

    store = await ctx.store()
    run = await store.get_bench_run(args.run)
    if run is None:
        raise UsageError(f"no such bench run: {args.run}")
    rows = await store.list_bench_instances(run.id)
    board = leaderboard(rows)
    if ctx.json:
        ctx.emit_json(
            {
                "run": run.model_dump(mode="json", exclude={"definition"}),
                "leaderboard": [b.as_dict() for b in board],
                "instances": [r.model_dump(mode="json", exclude={"model_patch"}) for r in rows],
            }
        )
    elif args.csv:
        sys.stdout.write(to_csv(board))
    elif args.markdown:
        sys.stdout.write(to_markdown(board))
        sys.stdout.write("\n" + instances_markdown(rows))
    else:
        from rich.table import Table

        table = Table(title=f"bench run {run.id} ({run.status})")
        for _, label in COLUMNS:
            table.add_column(label, overflow="fold")
        for b in board:
            table.add_row(*(fmt(k, getattr(b, k)) for k, _ in COLUMNS))
        ctx.print(table)
        detail = Table(title="instances")
        for label in ("instance", "agent/model", "status", "time s", "cost", "session", "reason"):
            detail.add_column(label, overflow="fold")
        for r in rows:
            cost = text.NOTHING if r.session_id is None else text.price(r.cost_usd)
            detail.add_row(
                r.instance_id,
                r.model_name_or_path,
                str(r.status),
                fmt("duration_s", r.duration_s),
                cost,
                r.session_id or "-",
                r.reason or "",
            )
        ctx.print(detail)
    return 0


@command("bench list", "benchmark runs, newest first", arg("--limit", type=positive_int, default=20), json=True)
async def bench_list(args: argparse.Namespace, ctx: Context) -> int:
    store = await ctx.store()
    runs = await store.list_bench_runs(args.limit)
    if ctx.json:
        ctx.emit_json([r.model_dump(mode="json", exclude={"definition"}) for r in runs])
        return 0
    for r in runs:
        ctx.print(f"{r.id:<24} {r.status!s:<12} {r.mode!s:<17} {r.created_at}  {r.dataset_path or ''}")
    return 0


group("bench env", "test environments built from the official SWE-bench specs, cached per repo and version")


def _env_manager(args: argparse.Namespace) -> Any:
    from ..engine.bench.envs import EnvManager

    return EnvManager(Path(args.envs_dir).expanduser() if getattr(args, "envs_dir", None) else None)


_ENVS_DIR = arg("--envs-dir", help="where environments are cached (default: <config dir>/bench/envs)")


@command("bench env list", "cached environments: repo, version, Python, spec key, build time", _ENVS_DIR, json=True)
async def bench_env_list(args: argparse.Namespace, ctx: Context) -> int:
    import time

    rows = _env_manager(args).entries()
    if ctx.json:
        ctx.emit_json(rows)
        return 0
    if not rows:
        ctx.print("no environments cached")
    for r in rows:
        if not r["complete"]:
            ctx.print(f"{r['name']:<48} [yellow]incomplete[/] (bench env prune removes it)")
            continue
        age = (time.time() - r["last_used"]) / 86400
        stale = "" if r["current"] else "  [yellow]stale spec[/]"
        ctx.print(
            f"{r['name']:<48} {r['repo']} {r['version']}  Python {r['python']}  built in {r['build_s']} s,"
            f" used {age:.1f} d ago{stale}"
        )
    return 0


@command(
    "bench env build",
    "build (or find cached) the environments a dataset needs, one per repo and version",
    arg("--dataset", required=True, help="instances, .json or .jsonl"),
    arg("--repos-dir", help="folder of clones named like owner__repo (requirement files are read from them)"),
    arg("--instance-ids", nargs="+", metavar="ID", help="only these instances"),
    _ENVS_DIR,
    json=True,
)
async def bench_env_build(args: argparse.Namespace, ctx: Context) -> int:
    import time

    from ..engine.bench.dataset import load_dataset
    from ..engine.bench.envs import EnvError, plan_for, spec_for
    from ..engine.bench.repos import RepoMissing, resolve_repo

    manager = _env_manager(args)
    instances = load_dataset(args.dataset, instance_ids=_split_ids(args.instance_ids))
    seen: set[tuple[str, str]] = set()
    results: list[dict[str, Any]] = []
    for inst in instances:
        if (inst.repo, inst.version) in seen or spec_for(inst) is None:
            continue
        seen.add((inst.repo, inst.version))
        t0 = time.perf_counter()
        row: dict[str, Any] = {"repo": inst.repo, "version": inst.version}
        try:
            try:
                repo = resolve_repo(inst, args.repos_dir)
            except RepoMissing:
                repo = None
            plan = await plan_for(inst, repo)
            env, built = await manager.ensure(plan)
            row.update(ok=True, path=str(env.path), built=built, python=env.python_version)
        except EnvError as exc:
            row.update(ok=False, error=str(exc))
        row["seconds"] = round(time.perf_counter() - t0, 2)
        results.append(row)
        if not ctx.json:
            what = ("built" if row.get("built") else "cached") if row["ok"] else f"[red]failed[/]: {row['error']}"
            ctx.print(f"{inst.repo} {inst.version}: {what} ({row['seconds']} s)")
    if ctx.json:
        ctx.emit_json(results)
    return 0 if all(r["ok"] for r in results) else 1


@command(
    "bench env prune",
    "remove incomplete environments and those of specs no longer current (--all: every one)",
    arg("--all", action="store_true", help="remove every cached environment"),
    arg("--older-than", type=positive_float, metavar="DAYS", help="also those unused for this many days"),
    _ENVS_DIR,
    json=True,
)
async def bench_env_prune(args: argparse.Namespace, ctx: Context) -> int:
    removed = _env_manager(args).prune(all_envs=args.all, older_than_days=args.older_than)
    if ctx.json:
        ctx.emit_json({"removed": removed})
    else:
        ctx.print(f"removed {len(removed)} environment(s)" + "".join(f"\n  {n}" for n in removed))
    return 0
