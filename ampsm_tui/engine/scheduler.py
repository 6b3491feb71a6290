"""The batch scheduler: at most N items at once, every item's fate recorded as it happens.

The runner of one item is injected (`run_item(item) -> BatchItemStatus`), so the scheduler is the
same for real sessions (`engine_run_item`) and for tests. Git safety (one writer per repo) is the
session service's repo lock; the scheduler only limits how many agents run.

Abort (Ctrl-C, SIGTERM, `batch abort` from another process) cancels the running items' tasks; the
session service terminates their agents and records the iterations as interrupted, work already
committed stays. `resume` runs whatever is not finished, also after the owner was SIGKILLed: the
owner is recorded as pid + start time, so a dead owner is detected, never assumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from . import procinfo
from .batch import BatchPlan, to_rows
from .clock import now_iso
from .errors import AmpsmError, UsageError
from .events import BatchFinished, BatchProgress, MetricsEventBus
from .limits import PAUSED, parse_limit
from .models import BatchItem, BatchItemStatus, BatchRun, BatchStatus, Iteration, IterationStatus, SessionStatus
from .slots import ItemSlot, NotStarted, Pipeline, current_slot

if TYPE_CHECKING:
    from .engine import Engine
    from .store import Store

log = logging.getLogger(__name__)

RunItem = Callable[[BatchItem], Awaitable[BatchItemStatus]]
#: Asked before an item starts: a reason it may not (a budget reached), else None.
StartGate = Callable[[BatchItem], Awaitable[str | None]]
T = TypeVar("T")

#: An item paused at a usage limit this many times in one run fails instead (a quota that never lifts).
MAX_PAUSES = 10

#: An item in one of these states is not run again by `resume`.
FINISHED = frozenset({BatchItemStatus.SUCCEEDED, BatchItemStatus.FAILED})


class ItemFailed(Exception):
    """Raised by a run_item to end an item with a status and a message for the table."""

    def __init__(self, status: BatchItemStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def create_batch(store: Store, plan: BatchPlan, concurrency: int) -> BatchRun:
    """Store the run and all its items in one transaction (nothing runs yet)."""
    run, items = to_rows(plan, concurrency)
    return await store.create_batch(run, items)


def owner_alive(run: BatchRun) -> bool:
    """Whether the process recorded as the batch's owner still runs (pid and start time)."""
    return procinfo.same_process(run.pid, run.pid_started_at)


def is_stalled(run: BatchRun) -> bool:
    """Marked running, but its owner is gone (killed): `batch resume` picks it up."""
    return run.status == BatchStatus.RUNNING and not owner_alive(run)


class BatchScheduler:
    def __init__(
        self,
        store: Store,
        batch_id: str,
        run_item: RunItem,
        *,
        bus: MetricsEventBus | None = None,
        concurrency: int | None = None,
        poll_interval: float = 0.5,
        gate: StartGate | None = None,
        pipelined: bool = False,
    ) -> None:
        self.store = store
        self.gate = gate
        self.batch_id = batch_id
        self.run_item = run_item
        self.bus = bus or MetricsEventBus()
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        #: run_item takes its agent slot itself (`slots.agent_turn`, the session runner does): items
        #: are prepared and finished beside the running agents, see `slots`.
        self.pipelined = pipelined
        self._pipeline: Pipeline | None = None
        self._abort = asyncio.Event()
        self._running: dict[str, asyncio.Task[bool]] = {}
        self._paused: dict[str, datetime] = {}  # agent -> when its usage limit resets
        self._pauses: dict[str, int] = {}  # item id -> times it was paused in this run

    def abort(self) -> None:
        """Stop: cancel running items, leave pending ones for `resume`. Safe from a signal handler."""
        self._abort.set()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    async def run(self) -> BatchRun:
        run = await self.store.get_batch(self.batch_id)
        if run is None:
            raise UsageError(f"no such batch: {self.batch_id}")
        me, started = procinfo.me()
        if run.status == BatchStatus.RUNNING and run.pid != me and owner_alive(run):
            raise UsageError(
                f"batch {run.id} is running in process {run.pid} (stop it with `ampsm batch abort {run.id}`)"
            )
        concurrency = max(1, self.concurrency or run.concurrency or 1)
        holder = await self.store.claim_batch(run.id, me, started, concurrency=concurrency)
        if holder is not None:
            raise UsageError(
                f"batch {run.id} is running in process {holder} (stop it with `ampsm batch abort {run.id}`)"
            )
        await self.store.reset_unfinished_items(run.id)
        items = [i for i in await self.store.list_batch_items(run.id) if i.status == BatchItemStatus.PENDING]
        queue: list[BatchItem] = list(items)
        await self._progress(None)

        # Pipelined: C items ahead of their agent, C agents, C committing/testing (each bounded in `slots`).
        self._pipeline = Pipeline(concurrency) if self.pipelined else None
        count = concurrency * 3 if self.pipelined else concurrency
        workers = [asyncio.create_task(self._worker(queue), name=f"batch-worker-{n}") for n in range(count)]
        watcher = asyncio.create_task(self._watch_abort_requests(), name="batch-abort-watch")
        aborter = asyncio.create_task(self._abort.wait(), name="batch-abort-wait")
        try:
            done_all: asyncio.Future[Any] = asyncio.gather(*workers)
            waiting: set[asyncio.Future[Any]] = {done_all, aborter}
            finished, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if aborter in finished:
                for task in list(self._running.values()):
                    task.cancel()
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                with contextlib.suppress(BaseException):
                    await done_all
            else:
                done_all.result()
        except BaseException:
            # Our own task was cancelled (e.g. asyncio.run's SIGINT): stop items, then record it.
            self._abort.set()
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await self._finish()
            raise
        finally:
            watcher.cancel()
            aborter.cancel()
            await asyncio.gather(watcher, aborter, return_exceptions=True)
        return await self._finish()

    async def _finish(self) -> BatchRun:
        counts = await self.store.batch_counts(self.batch_id)
        if self.aborted:
            await self.store.mark_items(
                self.batch_id,
                BatchItemStatus.ABORTED,
                where_status=[BatchItemStatus.RUNNING.value],
                error="aborted",
            )
            status = BatchStatus.ABORTED
        elif counts.get(BatchItemStatus.ERROR.value):
            status = BatchStatus.FAILED
        else:
            status = BatchStatus.DONE
        await self.store.update_batch(self.batch_id, status=status.value, ended_at=now_iso())
        counts = await self.store.batch_counts(self.batch_id)
        await self.bus.publish(
            BatchFinished(
                batch_id=self.batch_id,
                status=status.value,
                total=sum(counts.values()),
                succeeded=counts.get(BatchItemStatus.SUCCEEDED.value, 0),
                failed=sum(counts.get(s.value, 0) for s in (BatchItemStatus.FAILED, BatchItemStatus.ERROR)),
            )
        )
        run = await self.store.get_batch(self.batch_id)
        assert run is not None
        return run

    async def _watch_abort_requests(self) -> None:
        """`batch abort` from another process writes status=aborted; the owner notices here."""
        while not self.aborted:
            await asyncio.sleep(self.poll_interval)
            run = await self.store.get_batch(self.batch_id)
            if run is None or run.status == BatchStatus.ABORTED:
                self.abort()

    def paused(self) -> dict[str, datetime]:
        """Agents paused at a usage limit, with their reset times (expired pauses are dropped)."""
        now = datetime.now(UTC)
        self._paused = {agent: until for agent, until in self._paused.items() if until > now}
        return dict(self._paused)

    async def _next(self, queue: list[BatchItem]) -> BatchItem | None:
        """The first queued item whose agent is not paused; while only paused agents' items are
        left, wait for the earliest reset (other agents' items never wait behind them)."""
        while not self.aborted:
            paused = self.paused()
            for index, item in enumerate(queue):
                if item.agent not in paused:
                    return queue.pop(index)
            if not queue:
                return None
            wait = min((until - datetime.now(UTC)).total_seconds() for until in paused.values())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._abort.wait(), max(0.01, min(wait, self.poll_interval)))
        return None

    async def _worker(self, queue: list[BatchItem]) -> None:
        while not self.aborted:
            slot = ItemSlot(self._pipeline) if self._pipeline is not None else None
            try:
                if slot is not None:  # a place ahead of the agents first: at most C items prepared
                    await slot.take_ahead()
                if not await self._pick(queue, slot):
                    return
            finally:
                if slot is not None:
                    slot.release()

    async def _pick(self, queue: list[BatchItem], slot: ItemSlot | None) -> bool:
        """Take the next item and run it to its end (or put it back in the queue); False when none is left."""
        item = await self._next(queue)
        if item is None:
            return False
        reason = await self.gate(item) if self.gate is not None else None
        if reason is not None:  # a budget: the item is not started; `resume` may run it later
            await self._not_started(item, reason)
            return True
        task = asyncio.create_task(self._run_one(item, slot), name=f"batch-item-{item.id}")
        self._running[item.id] = task
        try:
            if await task:  # paused at a usage limit: back in the queue, run after the reset
                fresh = await self.store.get_batch_item(item.id)
                queue.append(fresh or item)
        finally:
            self._running.pop(item.id, None)
        return True

    async def _not_started(self, item: BatchItem, reason: str) -> None:
        await self.store.update_batch_item(
            item.id, status=BatchItemStatus.ABORTED.value, error=f"not started: {reason}", ended_at=now_iso()
        )
        await self._progress(item.id, BatchItemStatus.ABORTED)

    async def _started(self, item: BatchItem) -> None:
        """A pipelined item took its agent slot: the budget is asked again (other items may have
        spent it while this one was prepared), then the item is `running` from now."""
        reason = await self.gate(item) if self.gate is not None else None
        if reason is not None:
            raise NotStarted(reason)
        await self.store.update_batch_item(item.id, status=BatchItemStatus.RUNNING.value, started_at=now_iso())
        await self._progress(item.id, BatchItemStatus.RUNNING)

    async def _run_one(self, item: BatchItem, slot: ItemSlot | None = None) -> bool:
        """Run one item to its end; True when it stopped at a usage limit and waits in the queue.

        With a `slot` (pipelined) the item stays `pending` while it is prepared and waits for an
        agent slot, and is `running` from when it takes one (`_started`): an abort before that
        leaves it `pending` with its attempt given back, as if it had not been picked."""
        attempts = item.attempts
        if slot is not None:
            current_slot.set(slot)  # this task's own context: the runner takes the agent slot through it
            slot.on_start = lambda: self._started(item)
        while True:
            attempts += 1
            picked_at = now_iso()
            if slot is None:
                await self.store.update_batch_item(
                    item.id, status=BatchItemStatus.RUNNING.value, attempts=attempts, started_at=picked_at, error=None
                )
                await self._progress(item.id, BatchItemStatus.RUNNING)
            else:
                slot.started = False  # a retry is `running` again from its next agent slot
                await self.store.update_batch_item(item.id, attempts=attempts, error=None)
            error: str | None = None
            try:
                current = await self.store.get_batch_item(item.id) or item
                status = await self.run_item(current)
            except asyncio.CancelledError:
                if slot is not None and not slot.started and attempts == item.attempts + 1:
                    # cancelled before its first agent: never running, so still pending
                    await self.store.update_batch_item(item.id, attempts=attempts - 1)
                    raise
                await self.store.update_batch_item(
                    item.id, status=BatchItemStatus.ABORTED.value, error="aborted", ended_at=now_iso()
                )
                await self._progress(item.id, BatchItemStatus.ABORTED)
                raise
            except NotStarted as exc:  # prepared, then refused at its agent slot: a budget was reached
                await self._not_started(item, exc.reason)
                return False
            except ItemFailed as exc:
                status, error = exc.status, exc.message
            except AmpsmError as exc:
                status, error = BatchItemStatus.ERROR, exc.one_line()
            except Exception as exc:  # one broken item must not stop the batch
                log.exception("batch item %s failed", item.id)
                status, error = BatchItemStatus.ERROR, f"{type(exc).__name__}: {exc}"
            retry = status in (BatchItemStatus.FAILED, BatchItemStatus.ERROR)
            hit = parse_limit(error) if retry and not self.aborted else None
            if hit is not None and self._pauses.get(item.id, 0) >= MAX_PAUSES:
                hit = None  # a limit that never lifts (an exhausted quota): the item fails, said so
                error = f"{error} (still limited after {MAX_PAUSES} pauses)"
            if hit is not None:
                self._pauses[item.id] = (
                    self._pauses.get(item.id, 0) + 1
                )  # not the work's failure: pause the agent, keep the attempt
                until = max(hit.reset_at, self._paused.get(item.agent, hit.reset_at))
                self._paused[item.agent] = until
                note = "" if hit.known else " (reset time not given; guessed)"
                reason = f"{PAUSED} {item.agent} usage limit until {hit.until_text()}{note}: {hit.message}"
                log.info("batch item %s: %s", item.id, reason)
                await self.store.update_batch_item(
                    item.id, status=BatchItemStatus.PENDING.value, attempts=attempts - 1, error=reason
                )
                await self._progress(item.id, BatchItemStatus.PENDING)
                return True
            if retry and attempts <= item.retries and not self.aborted:
                log.info("batch item %s: attempt %d ended %s, retrying", item.id, attempts, status)
                continue
            # An item that ended before its agent (a failed setup script) started when it was picked.
            unstarted = {"started_at": picked_at} if slot is not None and not slot.started else {}
            await self.store.update_batch_item(
                item.id, status=status.value, error=error, ended_at=now_iso(), **unstarted
            )
            await self._progress(item.id, status)
            return False

    async def _progress(self, item_id: str | None, status: BatchItemStatus | None = None) -> None:
        if not self.bus.has_subscribers(BatchProgress.topic):  # the counts are a query: only for a reader
            return
        counts = await self.store.batch_counts(self.batch_id)
        await self.bus.publish(
            BatchProgress(
                batch_id=self.batch_id,
                total=sum(counts.values()),
                done=sum(counts.get(s.value, 0) for s in FINISHED),
                running=counts.get(BatchItemStatus.RUNNING.value, 0),
                failed=sum(counts.get(s.value, 0) for s in (BatchItemStatus.FAILED, BatchItemStatus.ERROR)),
                item_id=item_id,
                item_status=status.value if status else None,
            )
        )


async def abort_batch(
    store: Store, batch_id: str, *, cancel_session: Callable[[str], Awaitable[Any]] | None = None
) -> BatchRun:
    """Ask the owner to stop (it polls the status); when the owner is dead, finish the job here."""
    run = await store.get_batch(batch_id)
    if run is None:
        raise UsageError(f"no such batch: {batch_id}")
    if run.status in (BatchStatus.DONE, BatchStatus.FAILED):
        raise UsageError(f"batch {batch_id} already finished ({run.status})")
    alive = owner_alive(run)
    await store.update_batch(batch_id, status=BatchStatus.ABORTED.value, ended_at=now_iso())
    if not alive:
        running = [i for i in await store.list_batch_items(batch_id) if i.status == BatchItemStatus.RUNNING]
        if cancel_session is not None:
            for item in running:
                if item.session_id:
                    with contextlib.suppress(Exception):
                        await cancel_session(item.session_id)
        await store.mark_items(
            batch_id, BatchItemStatus.ABORTED, where_status=[BatchItemStatus.RUNNING.value], error="aborted"
        )
    result = await store.get_batch(batch_id)
    assert result is not None
    return result


# -- the real runner: one session per item --------------------------------------------------------


def status_of(iteration: Iteration) -> tuple[BatchItemStatus, str | None]:
    """An item succeeded when its agent completed and the test gate passed (or there is none)."""
    if iteration.status != IterationStatus.COMPLETED:
        return BatchItemStatus.FAILED, iteration.error or f"agent {iteration.status}"
    if iteration.test_exit_code not in (None, 0):
        return BatchItemStatus.FAILED, f"test script exited {iteration.test_exit_code}"
    return BatchItemStatus.SUCCEEDED, None


async def _critical(coro: Coroutine[Any, Any, T]) -> T:
    """Let a git-writing step (worktree creation) finish even if we are cancelled meanwhile, so an
    abort never leaves a half-made worktree; the cancellation is re-raised afterwards."""
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await task
        raise


async def remove_leftovers(engine: Engine, item: BatchItem) -> int:
    """A killed attempt may have made the item's worktree and branch but not its session row.
    Those leftovers (no session row, branch `amp/<item slug>/...`, in the item's repo) are removed
    (any work in them is archived first by the clean-up), so a resume leaves no orphan."""
    from .git import cleanup
    from .git.slug import slugify

    known = {s.id: str(s.status) for s in await engine.store.list_sessions()}
    try:
        orphans = await cleanup.find_orphans(item.repo_path, known, worktree_dir=engine.config.git.worktree_dir)
    except Exception:  # the repo itself is gone: the create below reports it properly
        log.warning("could not look for leftovers of batch item %s", item.id, exc_info=True)
        return 0
    prefix = f"amp/{slugify(item.name)}/"
    mine = [o for o in orphans if o.reason.endswith("no session row") and o.branch and o.branch.startswith(prefix)]
    if mine:
        report = await cleanup.clean(
            item.repo_path, mine, lock_timeout=engine.config.git.lock_timeout, include_unmerged=True
        )
        log.info("batch item %s: removed %d leftover(s) of a killed attempt", item.id, len(report.removed))
        return len(report.removed)
    return 0


def engine_run_item(engine: Engine) -> RunItem:
    """run_item over the session service: reuse the item's session if an earlier (killed or
    retried) attempt made one, else create it; then one iteration with the item's prompt."""

    async def run_item(item: BatchItem) -> BatchItemStatus:
        store = engine.store
        session = await store.get_session(item.session_id) if item.session_id else None
        if session is None:
            session = await store.session_for_batch_item(item.id)
        if session is not None and session.status in (SessionStatus.ARCHIVED, SessionStatus.DONE):
            session = None
        made = session is None
        if session is None:
            if item.attempts > 1:
                await remove_leftovers(engine, item)
            session = await _critical(
                engine.sessions.create(
                    repo=item.repo_path,
                    name=item.name,
                    prompt=item.prompt,
                    script=item.script,
                    agent=item.agent,
                    agent_cmd=item.agent_cmd,
                    model=item.model,
                    timeout_s=item.timeout_s,
                    base=item.base_branch,
                    batch_item_id=item.id,
                    setup=item.setup,
                )
            )
            if session.status == SessionStatus.ERROR:  # its setup script failed: never ignored
                raise ItemFailed(BatchItemStatus.ERROR, session.last_error or "setup script failed")
        elif session.status == SessionStatus.RUNNING:
            # The killed owner's agent may still be alive: stop it before running again.
            await engine.sessions.cancel(session.id)
        if item.session_id != session.id:
            await store.update_batch_item(item.id, session_id=session.id)
        from .workspace import _undo, give_back_ports

        undone = False
        try:
            iteration = await engine.sessions.iterate(session.id, item.prompt)
        except NotStarted:
            if made:  # prepared, then refused at its agent slot: a not-started item leaves nothing behind
                await _critical(_undo(engine.sessions, session))  # its ports go with the session
                undone = True
                await store.update_batch_item(item.id, session_id=None)
            raise
        finally:
            if not undone:
                # the item's ports back to the pool, whatever the turn's end: a batch of hundreds
                # keeps only its running items' blocks (a later turn takes one again)
                await _critical(give_back_ports(engine.sessions, session))
        status, error = status_of(iteration)
        if error:
            raise ItemFailed(status, error)
        return status

    return run_item
