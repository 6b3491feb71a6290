"""BatchService: start, run, resume and abort batches, for the CLI, the TUI and the demo alike.

The run loop lives here (on `BatchScheduler`), not in a command: the batch file's own webhook and
addresses join the engine's one notifier, old telemetry is pruned first, and when the run ends (or
is stopped) nothing of it outlives the call. The faces only present: they get a `BatchRun` back,
and follow the run on the bus (`batch.progress`, `batch.finished`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .errors import UsageError
from .models import BatchItem, BatchRun

if TYPE_CHECKING:
    from .batch import BatchPlan
    from .engine import Engine
    from .scheduler import BatchScheduler, StartGate
    from .store import Store


async def resolve_batch(store: Store, ref: str) -> BatchRun:
    """A batch by id or unique prefix of one (`batch-1a2` or `1a2`); read-only, for the status
    commands that open no engine."""
    run = await store.get_batch(ref)
    if run is not None:
        return run
    matches = [b for b in await store.list_batches() if b.id.startswith(ref) or b.id.startswith(f"batch-{ref}")]
    if len(matches) == 1:
        return matches[0]
    raise UsageError(f"{'ambiguous batch prefix' if matches else 'no such batch'}: {ref}")


def budget_gate(engine: Engine, batch_id: str, max_cost: float | None) -> StartGate:
    """Before each item: the batch's `maxCost`, then `budget.daily` (read from the DB, so what other
    processes spent today counts too)."""
    from .budget import batch_stop

    async def gate(_item: BatchItem) -> str | None:
        stop = await batch_stop(engine.store, engine.config, batch_id, max_cost)
        return stop.message if stop is not None else None

    return gate


class BatchService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._schedulers: dict[str, BatchScheduler] = {}

    async def resolve(self, ref: str) -> BatchRun:
        return await resolve_batch(self.engine.store, ref)

    async def create(self, plan: BatchPlan, concurrency: int) -> BatchRun:
        """The run and its items, written in one transaction; nothing runs yet."""
        from .scheduler import create_batch

        run = await create_batch(self.engine.store, plan, concurrency)
        notes = plan.file.notifications
        if notes is not None and notes.webhook:  # the stored definition has it redacted; keep it privately
            from .secrets import secrets_dir, stored_url

            stored_url(notes.webhook, secrets_dir(self.engine.store.path), f"{run.id}.webhook")
        return run

    async def start(
        self, plan: BatchPlan, concurrency: int, *, executor: str | None = None, address: str | None = None
    ) -> BatchRun:
        return await self.run(await self.create(plan, concurrency), concurrency, executor=executor, address=address)

    async def resume(
        self, ref: str, concurrency: int | None = None, *, executor: str | None = None, address: str | None = None
    ) -> BatchRun:
        """Run the items that did not finish (after an abort, Ctrl-C or a killed owner)."""
        return await self.run(await self.resolve(ref), concurrency, executor=executor, address=address)

    async def run(
        self,
        run: BatchRun,
        concurrency: int | None = None,
        *,
        executor: str | None = None,
        address: str | None = None,
    ) -> BatchRun:
        """Run the batch until every item ended or `stop` was called: its items in this process
        (the `local` executor) or as tasks on a Ray cluster (`ray`, at `address`); the loop, the
        DB writes and the events stay here either way."""
        from . import telemetry
        from .batch import definition_of
        from .executors import executor_for
        from .scheduler import BatchScheduler

        engine = self.engine
        spec = definition_of(run)
        notes = spec.notifications if spec else None
        if notes is not None:
            from .secrets import secrets_dir, usable_url

            hook = (
                usable_url(notes.webhook, secrets_dir(engine.store.path), f"{run.id}.webhook")
                if notes.webhook
                else None
            )
            engine.notifier.add_targets(engine.config, webhooks=[hook] if hook else [], emails=list(notes.email or []))
        runner = executor_for(engine, executor, address)
        await telemetry.prune(engine.store, engine.config)
        await runner.open(run.id)
        scheduler = BatchScheduler(
            engine.store,
            run.id,
            runner.run_item,
            bus=engine.bus,
            concurrency=concurrency,
            gate=budget_gate(engine, run.id, spec.max_cost if spec else None),
            pipelined=getattr(runner, "pipelined", False),
        )
        self._schedulers[run.id] = scheduler
        try:
            result = await scheduler.run()
            winners_only: set[str] | None = None
            if spec is not None and any(item.is_best_of for item in spec.items):
                winners_only = await self.rank_best_of(run.id)
            if spec is not None and spec.queue and str(result.status) != "aborted":
                await self.queue_green(run.id, skip=winners_only)
            return result
        finally:
            self._schedulers.pop(run.id, None)
            try:
                await runner.close()
            finally:
                # the batch's own iterations only: a session the user runs beside it keeps running
                items = await engine.store.list_batch_items(run.id)
                await engine.sessions.shutdown({item.session_id for item in items if item.session_id})

    async def rank_best_of(self, batch_id: str) -> set[str]:
        """The batch's best-of items (`agents:`/`bestOf:`): rank each item's candidates (per repo) into
        a best-of group, as `ampsm new --agents … --n K` does; returns the sessions that lost (the
        merge queue takes only winners; landing a winner archives the others)."""
        from .batch import best_of_groups, definition_of
        from .bestof import rank_batch_items

        run = await self.resolve(batch_id)
        spec = definition_of(run)
        if spec is None:
            return set()
        losers: set[str] = set()
        items = await self.engine.store.list_batch_items(batch_id)
        for item_spec, rows in best_of_groups(spec, items):
            ids = [r.session_id for r in rows if r.session_id]
            group = await rank_batch_items(self.engine, ids, item_spec.prompt)
            if group is not None:
                losers.update(c.session_id for c in group.candidates if c.session_id != group.winner)
        return losers

    async def queue_green(self, batch_id: str, skip: set[str] | None = None) -> list[str]:
        """The batch's `queue: true`: every succeeded item's session joins the merge queue, in item
        order, and the queue runs (one land at a time; a conflict or red gate takes one out). `skip`:
        best-of candidates that lost (only a group's winner is queued)."""
        from .models import BatchItemStatus
        from .queue import MergeQueue

        items = await self.engine.store.list_batch_items(batch_id)
        green = [
            i.session_id
            for i in items
            if i.status == BatchItemStatus.SUCCEEDED and i.session_id and i.session_id not in (skip or set())
        ]
        if not green:
            return []
        queue = MergeQueue(self.engine)
        await queue.add(green)
        await queue.run()
        return green

    def stop(self, batch_id: str | None = None) -> None:
        """Stop batches running in this process (one, or all): running items are cancelled, pending
        ones wait for `resume`. Safe from a signal handler."""
        for bid, scheduler in list(self._schedulers.items()):
            if batch_id is None or bid == batch_id:
                scheduler.abort()

    async def abort(self, ref: str, *, wait_s: float = 10.0) -> tuple[BatchRun, dict[str, int]]:
        """Stop a batch run by any process: its owner is asked (and waited for, briefly); a dead
        owner's running items are stopped here. Returns the run and its item counts."""
        from .scheduler import abort_batch, owner_alive

        store = self.engine.store
        run = await self.resolve(ref)
        if run.id in self._schedulers:
            self.stop(run.id)
        alive = owner_alive(run)
        result = await abort_batch(store, run.id, cancel_session=self.engine.sessions.cancel)
        if alive:  # the owner polls the status; wait until it has stopped its items
            for _ in range(max(1, int(wait_s / 0.1))):
                if not (await store.batch_counts(run.id)).get("running"):
                    break
                await asyncio.sleep(0.1)
        return result, await store.batch_counts(run.id)
