"""A benchmark run: for each agent/model and instance, a real ampsm session on a worktree at
`base_commit`, the model patch read from its branch, then local evaluation; or, without agents,
the evaluation of an existing predictions file (or the gold patches).

Every step is recorded in the store as it happens, so a run killed at any point is finished by
starting the same run id again: rows already graded are skipped (unless `redo`), the rest run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..clock import now_iso
from ..errors import AmpsmError, UsageError
from ..procinfo import pid_alive
from . import proc
from .dataset import Instance, load_dataset
from .docker import require_docker, run_official
from .evaluate import EvalOutcome, Evaluator
from .models import BenchInstance, BenchMode, BenchRun, BenchRunStatus, InstanceStatus
from .options import AgentSpec, RunOptions
from .patches import touched_paths
from .predictions import Prediction, gold_predictions, read_predictions, write_predictions
from .report import run_metadata, write_summary
from .repos import RepoMissing, resolve_repo

if TYPE_CHECKING:
    from ..engine import Engine
    from ..executors.ray import RaySessions
    from ..models import Iteration, Session
    from ..store import Store

Progress = Callable[[BenchInstance], None]


@dataclass
class RunResult:
    run: BenchRun
    rows: list[BenchInstance]
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> official summary
    summary_paths: dict[str, Path] = field(default_factory=dict)
    predictions_paths: dict[str, Path] = field(default_factory=dict)
    started: int = 0  # instances worked on by this invocation (the rest were already done)

    @property
    def errored(self) -> list[BenchInstance]:
        return [r for r in self.rows if r.status == InstanceStatus.ERROR]


def _alive(pid: int | None) -> bool:
    """Another process still owns the run (our own pid is a leftover of this very process)."""
    return pid is not None and pid != 0 and pid != os.getpid() and pid_alive(pid)


def render_prompt(template: str, instance: Instance) -> str:
    fields: dict[str, Any] = {**instance.extra, **instance.model_dump(mode="json", exclude_none=True)}

    class _Keep(dict[str, Any]):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    return template.format_map(_Keep(fields))


async def model_patch(worktree: Path, base_commit: str, test_patch: str) -> str:
    """The session branch against `base_commit`, minus every file the test patch touches (the
    agent may have written its own tests there; the official tests replace them)."""
    excludes = [f":(exclude,literal){p}" for p in touched_paths(test_patch)]
    res = await proc.git("diff", "--no-color", "--no-ext-diff", base_commit, "HEAD", "--", ".", *excludes, cwd=worktree)
    if not res.ok:
        raise AmpsmError("E001", f"cannot diff the session branch: {res.output.strip()[:200]}")
    return res.output


class BenchRunner:
    def __init__(
        self,
        store: Store,
        options: RunOptions,
        *,
        run_id: str | None = None,
        instances: list[Instance] | None = None,
        engine: Engine | None = None,
        redo: bool = False,
        on_progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.options = options
        self.run_id = run_id
        self._instances = instances
        self.engine = engine
        self.redo = redo
        self.on_progress = on_progress
        self.report_dir = Path(options.report_dir).expanduser().resolve()
        self._write_lock = asyncio.Lock()
        self._budget_hit = False
        #: --grader docker: predictions waiting for the official harness, with their rows
        self._deferred: list[tuple[BenchInstance, Instance, Prediction, float]] = []
        #: --executor ray: the agents' sessions run on the cluster and come back here (issue 20)
        self._remote: RaySessions | None = None

    # -- setup ------------------------------------------------------------------------------

    def instances(self) -> list[Instance]:
        if self._instances is None:
            if not self.options.dataset:
                raise UsageError("give --dataset FILE")
            self._instances = load_dataset(
                self.options.dataset,
                instance_ids=self.options.instance_ids,
                limit=self.options.limit,
                shuffle=self.options.shuffle,
                seed=self.options.seed,
            )
        return self._instances

    def _predictions(self, instances: list[Instance]) -> dict[str, Prediction]:
        source = self.options.predictions
        if source == "gold":
            return gold_predictions(instances)
        if not source:
            raise UsageError("give --evaluate PREDICTIONS (or -p gold)")
        preds = read_predictions(source)
        if self.options.dataset and not (self.options.instance_ids or self.options.limit is not None):
            known = {i.instance_id for i in instances}
            unknown = sorted(set(preds) - known)
            if unknown:
                raise UsageError(f"predictions for instances not in the dataset: {', '.join(unknown)}")
        chosen = {i.instance_id for i in instances}
        return {k: v for k, v in preds.items() if k in chosen}

    async def _open_run(self) -> BenchRun:
        run = await self.store.get_bench_run(self.run_id) if self.run_id else None
        if run is not None and run.status == BenchRunStatus.RUNNING and _alive(run.pid):
            raise UsageError(f"bench run {run.id} is running in process {run.pid}")
        fields = {"status": BenchRunStatus.RUNNING.value, "pid": os.getpid(), "started_at": now_iso(), "ended_at": None}
        if run is None:
            run = BenchRun(
                kind=self.options.kind,
                mode=self.options.mode,
                dataset_path=self.options.dataset or self.options.custom_config,
                report_dir=str(self.report_dir),
                definition=self.options.model_dump_json(),
                max_cost=self.options.max_cost,
                **({"id": self.run_id} if self.run_id else {}),
            )
            run = await self.store.create_bench_run(run)
        else:
            fields["definition"] = self.options.model_dump_json()
            fields["max_cost"] = self.options.max_cost
        self.run_id = run.id
        await self.store.update_bench_run(run.id, **fields)
        return (await self.store.get_bench_run(run.id)) or run

    async def _rows(self, instances: list[Instance], preds: dict[str, Prediction] | None) -> list[BenchInstance]:
        assert self.run_id is not None
        rows: list[BenchInstance] = []
        if preds is not None:
            for n, inst in enumerate(instances):
                pred = preds.get(inst.instance_id)
                if pred is not None:
                    rows.append(
                        BenchInstance(
                            run_id=self.run_id,
                            instance_id=inst.instance_id,
                            model_name_or_path=pred.model_name_or_path,
                            ordinal=n,
                            model_patch=pred.model_patch,
                        )
                    )
        else:
            for spec in self.options.agents:
                for n, inst in enumerate(instances):
                    rows.append(
                        BenchInstance(
                            run_id=self.run_id,
                            instance_id=inst.instance_id,
                            model_name_or_path=spec.name,
                            agent=spec.agent,
                            model=spec.model,
                            ordinal=n,
                        )
                    )
        await self.store.add_bench_instances(rows)
        wanted = {(r.model_name_or_path, r.instance_id) for r in rows}
        stored = await self.store.list_bench_instances(self.run_id)
        return [r for r in stored if (r.model_name_or_path, r.instance_id) in wanted]

    # -- run --------------------------------------------------------------------------------

    async def run(self) -> RunResult:
        instances = self.instances()
        if not instances:
            raise UsageError("no instances selected")
        evaluating = self.options.mode == BenchMode.EVALUATE
        if not evaluating and not self.options.agents:
            raise UsageError("give at least one --agent")
        if not evaluating and self.engine is None:
            raise UsageError("running agents needs the session engine")
        preds = self._predictions(instances) if evaluating else None
        run = await self._open_run()
        rows = await self._rows(instances, preds)
        by_id = {i.instance_id: i for i in instances}
        todo = [r for r in rows if self.redo or not r.status.finished]
        docker = self.options.grader == "docker"
        if docker and self.options.mode != BenchMode.PREDICTIONS_ONLY:
            require_docker()  # before any agent runs: a clear error, not hours of work then one
        evaluator = Evaluator(
            report_dir=self.report_dir,
            run_id=run.id,
            repos_dir=self.options.repos_dir,
            env_cmd=self.options.env_cmd,
            timeout=self.options.timeout,
            grader="local" if docker else self.options.grader,  # type: ignore[arg-type]
        )
        run_metadata(
            self.report_dir,
            run.id,
            {"dataset": self.options.dataset or self.options.custom_config, "mode": str(self.options.mode)},
        )
        if self.options.executor == "ray" and self.engine is not None and self.options.mode != BenchMode.EVALUATE:
            from ..executors.ray import RaySessions

            self._remote = RaySessions(self.engine, self.options.address or self.engine.config.ray.address)
            await self._remote.open(run.id)
        sem = asyncio.Semaphore(self.options.workers)
        specs = {s.name: s for s in self.options.agents}
        status = BenchRunStatus.DONE

        async def one(row: BenchInstance) -> None:
            async with sem:
                await self._one(row, by_id[row.instance_id], evaluator, specs, preds)

        try:
            await asyncio.gather(*(one(r) for r in todo))
            if self._deferred:
                await self._grade_with_docker(instances)
            if self._budget_hit:
                status = BenchRunStatus.STOPPED
        except BaseException:
            status = BenchRunStatus.INTERRUPTED
            raise
        finally:
            if self._remote is not None:
                with contextlib.suppress(Exception):
                    await self._remote.close()
                self._remote = None
            with contextlib.suppress(Exception):
                await asyncio.shield(self.store.update_bench_run(run.id, status=status.value, ended_at=now_iso()))
        rows = await self.store.list_bench_instances(run.id)
        result = RunResult(run=(await self.store.get_bench_run(run.id)) or run, rows=rows, started=len(todo))
        await self._write_outputs(result, instances)
        return result

    async def _one(
        self,
        row: BenchInstance,
        instance: Instance,
        evaluator: Evaluator,
        specs: dict[str, AgentSpec],
        preds: dict[str, Prediction] | None,
    ) -> None:
        assert row.id is not None and self.run_id is not None
        budget = self.options.max_cost
        if budget is not None and not self._budget_hit and await self.store.bench_run_cost(self.run_id) >= budget:
            self._budget_hit = True
        if self._budget_hit:
            await self._finish(
                row, status=InstanceStatus.SKIPPED, reason="the run's cost budget (--max-cost) was reached"
            )
            return
        started = time.perf_counter()
        await self._update(row, status=InstanceStatus.RUNNING.value, reason=None, started_at=now_iso(), ended_at=None)
        try:
            pred = (
                preds[row.instance_id]
                if preds is not None
                else await self._run_agent(row, instance, specs[row.model_name_or_path])
            )
            if pred is None:
                return  # _run_agent recorded the error
            if self.options.mode == BenchMode.PREDICTIONS_ONLY:
                await self._finish(
                    row,
                    status=InstanceStatus.EMPTY if pred.is_empty else InstanceStatus.PREDICTED,
                    duration_s=time.perf_counter() - started,
                )
                return
            if self.options.grader == "docker" and not pred.is_empty:
                self._deferred.append((row, instance, pred, started))
                return
            t0 = time.perf_counter()
            outcome = await evaluator.evaluate(instance, pred, redo=self.redo)
            await self._finish_eval(
                row, outcome, eval_s=time.perf_counter() - t0, total_s=time.perf_counter() - started
            )
        except (asyncio.CancelledError, KeyboardInterrupt):
            with contextlib.suppress(Exception):
                await asyncio.shield(self._update(row, status=InstanceStatus.PENDING.value, reason="interrupted"))
            raise
        except Exception as exc:  # one instance's failure never ends the run
            message = exc.one_line() if isinstance(exc, AmpsmError) else f"{type(exc).__name__}: {exc}"
            await self._finish(
                row, status=InstanceStatus.ERROR, reason=message, duration_s=time.perf_counter() - started
            )

    async def _grade_with_docker(self, instances: list[Instance]) -> None:
        """The deferred predictions, graded by the official harness in one hand-off."""
        assert self.run_id is not None
        deferred, self._deferred = self._deferred, []
        t0 = time.perf_counter()
        try:
            outcomes = await run_official(
                [d[1] for d in deferred],
                [d[2] for d in deferred],
                report_dir=self.report_dir,
                run_id=self.run_id,
                workers=self.options.workers,
                timeout=self.options.timeout,
            )
        except Exception as exc:
            for row, _inst, _pred, started in deferred:
                await self._finish(
                    row,
                    status=InstanceStatus.ERROR,
                    reason=f"official harness failed: {exc}",
                    duration_s=time.perf_counter() - started,
                )
            return
        eval_s = (time.perf_counter() - t0) / max(1, len(deferred))
        for row, _inst, pred, started in deferred:
            await self._finish_eval(
                row, outcomes[pred.instance_id], eval_s=eval_s, total_s=time.perf_counter() - started
            )

    async def _run_agent(self, row: BenchInstance, instance: Instance, spec: AgentSpec) -> Prediction | None:
        assert self.engine is not None and row.id is not None
        started = time.perf_counter()
        try:
            repo = resolve_repo(instance, self.options.repos_dir)
        except RepoMissing as exc:
            await self._finish(row, status=InstanceStatus.ERROR, reason=str(exc), duration_s=0.0)
            return None
        base = await self._base_branch(repo, instance.base_commit)
        if self._remote is not None:
            session, iteration = await self._run_remote(row, instance, spec, repo, base)
        else:
            session = await self.engine.sessions.create(
                repo=repo,
                name=f"bench {instance.instance_id}",
                prompt=render_prompt(self.options.prompt_template, instance),
                agent=spec.agent,
                agent_cmd=spec.agent_cmd,
                model=spec.model,
                timeout_s=self.options.agent_timeout,
                base=base,
            )
            await self._update(row, session_id=session.id)
            iteration = await self.engine.sessions.iterate(session.id)
        iterations = await self.store.list_iterations(session.id)
        costs = [it.cost_usd for it in iterations]
        usage = {
            "iteration_id": iteration.id,
            "iterations": len(iterations),
            "input_tokens": sum(it.input_tokens for it in iterations),
            "output_tokens": sum(it.output_tokens for it in iterations),
            "cache_creation_tokens": sum(it.cache_creation_tokens for it in iterations),
            "cache_read_tokens": sum(it.cache_read_tokens for it in iterations),
            "cost_usd": None if any(c is None for c in costs) else sum(c or 0.0 for c in costs),
            "agent_s": time.perf_counter() - started,
        }
        stored = await self.store.get_session(session.id)
        worktree = Path(stored.worktree_path if stored and stored.worktree_path else session.worktree_path)
        patch = await model_patch(worktree, instance.base_commit, instance.test_patch)
        await self._update(row, model_patch=patch, **usage)
        if str(iteration.status) == "timeout":
            await self._finish(
                row, status=InstanceStatus.ERROR, reason="the agent timed out", duration_s=time.perf_counter() - started
            )
            return None
        return Prediction(instance_id=instance.instance_id, model_name_or_path=spec.name, model_patch=patch)

    async def _run_remote(
        self, row: BenchInstance, instance: Instance, spec: AgentSpec, repo: Path, base: str
    ) -> tuple[Session, Iteration]:
        """The instance's session on the Ray cluster; its branch, worktree and rows come back here,
        so the patch and the grading below are the local run's."""
        from ..models import BatchItem

        assert self._remote is not None and row.id is not None
        item = BatchItem(
            id=f"bench-{row.id}",
            batch_id=self.run_id or "",
            ordinal=row.ordinal,
            name=f"bench {instance.instance_id}",
            repo_path=str(repo),
            base_branch=base,
            prompt=render_prompt(self.options.prompt_template, instance),
            agent=spec.agent,
            agent_cmd=spec.agent_cmd,
            model=spec.model,
            timeout_s=self.options.agent_timeout,
        )
        session, last, _node = await self._remote.run_session(item, batch_item=False)
        await self._update(row, session_id=session.id)
        if last is None:
            raise AmpsmError("E002", f"the session of {instance.instance_id} ran no iteration")
        return session, last

    async def _base_branch(self, repo: Path, base_commit: str) -> str:
        """Sessions branch from a branch: one `ampsm-bench/<sha>` per base commit, made once."""
        name = f"ampsm-bench/{base_commit[:12]}"
        res = await proc.git("rev-parse", "--verify", "--quiet", f"{base_commit}^{{commit}}", cwd=repo)
        if not res.ok:
            raise AmpsmError("E001", f"base_commit {base_commit} is not in {repo}")
        sha = res.output.strip()
        current = await proc.git("rev-parse", "--verify", "--quiet", f"refs/heads/{name}", cwd=repo)
        if not current.ok:
            await proc.git("update-ref", f"refs/heads/{name}", sha, "", cwd=repo)
        elif current.output.strip() != sha:
            name = f"ampsm-bench/{sha}"
            await proc.git("update-ref", f"refs/heads/{name}", sha, cwd=repo)
        return name

    # -- bookkeeping ------------------------------------------------------------------------

    async def _update(self, row: BenchInstance, **fields: Any) -> None:
        assert row.id is not None
        await self.store.update_bench_instance(row.id, **fields)

    async def _finish(self, row: BenchInstance, *, status: InstanceStatus, **fields: Any) -> None:
        assert row.id is not None
        await self._update(row, status=status.value, ended_at=now_iso(), **fields)
        if self.on_progress:
            fresh = await self.store.get_bench_instance(row.id)
            if fresh is not None:
                self.on_progress(fresh)

    async def _finish_eval(self, row: BenchInstance, outcome: EvalOutcome, *, eval_s: float, total_s: float) -> None:
        tests = outcome.tests_status
        f2p = tests.get("FAIL_TO_PASS") or {}
        p2p = tests.get("PASS_TO_PASS") or {}
        entry = (outcome.report or {}).get(outcome.instance_id, {})
        report_path = outcome.log_dir / "report.json" if outcome.log_dir and outcome.report else None
        fields: dict[str, Any] = {
            "reason": outcome.reason,
            "eval_s": eval_s,
            "duration_s": total_s,
            "patch_applied": entry.get("patch_successfully_applied") if outcome.report else None,
            "report_path": str(report_path) if report_path else None,
        }
        if tests:
            fields.update(
                f2p_passed=len(f2p.get("success", [])),
                f2p_total=len(f2p.get("success", [])) + len(f2p.get("failure", [])),
                p2p_passed=len(p2p.get("success", [])),
                p2p_total=len(p2p.get("success", [])) + len(p2p.get("failure", [])),
            )
        await self._finish(row, status=InstanceStatus(outcome.status), **fields)

    async def _write_outputs(self, result: RunResult, instances: list[Instance]) -> None:
        """Predictions (agent runs) and one official summary per model, rebuilt from the store."""
        by_model: dict[str, dict[str, Prediction]] = {}
        for row in result.rows:
            if row.model_patch is None and self.options.mode != BenchMode.EVALUATE:
                continue
            by_model.setdefault(row.model_name_or_path, {})[row.instance_id] = Prediction(
                instance_id=row.instance_id, model_name_or_path=row.model_name_or_path, model_patch=row.model_patch
            )
        for model, preds in by_model.items():
            if self.options.mode != BenchMode.EVALUATE:
                path = self.report_dir / f"{model.replace('/', '__')}.{result.run.id}.predictions.jsonl"
                write_predictions(path, preds.values())
                result.predictions_paths[model] = path
            if self.options.mode != BenchMode.PREDICTIONS_ONLY:
                reasons = {
                    r.instance_id: r.reason or ""
                    for r in result.rows
                    if r.model_name_or_path == model and r.status == InstanceStatus.ERROR
                }
                spath, summary = write_summary(preds, instances, result.run.id, self.report_dir, reasons)
                result.summaries[model] = summary
                result.summary_paths[model] = spath


def options_from_run(run: BenchRun) -> RunOptions:
    return RunOptions.model_validate(json.loads(run.definition or "{}"))
