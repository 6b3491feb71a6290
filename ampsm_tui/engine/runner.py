"""One iteration: agent turn → commit → test script → status. Everything recorded as it happens.

The runner writes each agent event to the store and publishes it on the bus as it arrives, so a
crash or a kill leaves every event received so far. Whatever ended the turn (success, failure,
timeout, cancel), the work in the worktree is committed, and the session is never left `running`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from . import git as gitops
from . import workspace
from .agents.base import AgentEvent, ThreadEvent, ToolCallEvent, ToolResultEvent, UsageEvent
from .agents.process import AgentRunResult, run_agent
from .agents.registry import get_adapter
from .checkpoints import Checkpointer, supersede
from .clock import now_iso
from .config import Config
from .errors import AmpsmError, ErrorCode, UsageError
from .events import (
    AgentEventPublished,
    GitCommitted,
    IterationFinished,
    IterationStarted,
    MetricsEventBus,
    SessionStatusChanged,
    TestFinished,
)
from .git.runner import GitError
from .models import Iteration, IterationStatus, Session, SessionStatus
from .procinfo import me, process_start_time
from .slots import Turn, agent_turn
from .store import Store
from .testgate import TestResult, run_script
from .toolcalls import ToolCallRecorder

log = logging.getLogger(__name__)

#: what an iteration's parser need not build when nobody subscribes to agent events
_QUIET = frozenset({"text", "thinking", "usage"})
_QUIET_TEXT = frozenset({"text", "thinking"})


def commit_summary(text: str | None, fallback: str) -> str:
    for candidate in (text or "", fallback):
        for line in candidate.splitlines():
            line = line.strip().lstrip("#").strip()
            if line:
                return line[:72]
    return "iteration"


class IterationRunner:
    def __init__(self, config: Config, store: Store, bus: MetricsEventBus) -> None:
        self.config = config
        self.store = store
        self.bus = bus

    @property
    def telemetry(self) -> bool:
        return self.config.telemetry.enabled

    async def set_status(
        self, session: Session, status: SessionStatus, reason: str | None = None, **fields: Any
    ) -> None:
        previous = session.status
        await self.store.set_session_status(session.id, status, **fields)
        session.status = status
        await self.bus.publish(
            SessionStatusChanged(session_id=session.id, status=str(status), previous=str(previous), reason=reason)
        )

    async def run(self, session: Session, prompt: str, *, cost_limit: float | None = None) -> Iteration:
        """One turn. `cost_limit` (dollars, what is left of a budget) stops the agent as soon as the
        priced usage it reports reaches it: the work so far is committed, the turn is interrupted."""
        adapter = get_adapter(session.agent, session.agent_cmd, config=self.config)
        await asyncio.to_thread(adapter.check)  # E002 with the fix when the CLI is missing or not logged in
        # In a pipelined batch the turn waits here for an agent slot: everything before (worktree,
        # session row, checks) ran beside the other items' agents, and the iteration row is only
        # written once the agent can start, so its times are the agent's.
        async with agent_turn() as turn:
            return await self._claim_and_run(session, adapter, prompt, cost_limit, turn)

    async def _claim_and_run(
        self, session: Session, adapter: Any, prompt: str, cost_limit: float | None, turn: Turn
    ) -> Iteration:
        previous = session.status
        # The claim and the iteration row are a few quick writes that a stop does not split (a batch
        # stopped as the item's agent slot came): they go through all the same, and a cancelled
        # await would leave the session `running` under this live process (its resume refused) or
        # an iteration `running` for ever. A stop waits for them, then records the turn interrupted.
        opening = asyncio.ensure_future(self._open_turn(session, prompt))
        try:
            iteration = await asyncio.shield(opening)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._abandon(opening, session))
            raise
        assert iteration.raw_log_path is not None
        try:
            return await self._run_claimed(
                session, iteration, adapter, prompt, iteration.model, Path(iteration.raw_log_path), previous,
                cost_limit, turn,
            )  # fmt: skip
        except BaseException as exc:
            # The one place that guarantees an iteration's end is recorded, whatever was raised
            # (a git or SQLite failure in the commit step, a bug): never left `running`.
            await asyncio.shield(self._record_end(session, iteration, exc))
            error = coded(exc)
            if error is exc:
                raise
            raise error from exc

    async def _open_turn(self, session: Session, prompt: str) -> Iteration:
        """Claim the session, then write the iteration row. The claim comes first: a second process
        (or a second call in the TUI) iterating it at the same moment gets a clear error and leaves
        no iteration row."""
        pid, started = me()
        previous = session.status
        holder = await self.store.claim_session(session.id, pid, started)
        if holder is not None:
            raise UsageError(f"session {session.id} is already running an iteration (pid {holder})")
        try:
            number = await self.store.next_iteration_number(session.id)
            model = session.model or self.config.amp.default_model
            iteration = await self.store.create_iteration(
                Iteration(
                    session_id=session.id,
                    number=number,
                    prompt=prompt,
                    model=model,
                    agent=session.agent,
                    thread_id=session.thread_id,
                    raw_log_path=str(self.config.streams_dir / session.id / f"{number:04d}.jsonl"),
                )
            )
        except BaseException:  # never left `running` by a claim that started nothing
            await asyncio.shield(self.store.set_session_status(session.id, previous, pid=None, pid_started_at=None))
            raise
        assert iteration.id is not None
        return iteration

    async def _abandon(self, opening: asyncio.Future[Iteration], session: Session) -> None:
        """A stop came while the turn was being opened: once it is, its iteration ends interrupted
        (a claim refused or undone leaves nothing to record)."""
        iteration = await opening
        await self._record_end(session, iteration, asyncio.CancelledError())

    async def _run_claimed(
        self,
        session: Session,
        iteration: Iteration,
        adapter: Any,
        prompt: str,
        model: str | None,
        raw_path: Path,
        previous: SessionStatus,
        cost_limit: float | None = None,
        turn: Turn | None = None,
    ) -> Iteration:
        number = iteration.number
        # The claim wrote `running` with this pid: only the change is announced (no second write).
        session.status = SessionStatus.RUNNING
        await self.bus.publish(
            SessionStatusChanged(
                session_id=session.id,
                status=str(SessionStatus.RUNNING),
                previous=str(previous),
                reason="iteration started",
            )
        )
        await self.bus.publish(
            IterationStarted(session_id=session.id, iteration=number, prompt=prompt, agent=session.agent, model=model)
        )
        t0 = time.monotonic()
        assert iteration.id is not None
        calls = ToolCallRecorder(self.store, iteration_id=iteration.id, session_id=session.id)
        result: AgentRunResult | None = None
        cancelled = False

        seen = adapter.new_parser()  # totals of what arrived, for a turn cancelled before its end

        over_budget: list[float] = []  # the turn's cost when it reached cost_limit
        agent: asyncio.Future[AgentRunResult] | None = None

        # Text and usage nobody reads are not built at all (a headless run without --stream, a batch):
        # the parsers keep their totals, `seen` included. A budget watches the usage as it comes.
        quiet_kinds = _QUIET if cost_limit is None else _QUIET_TEXT

        def quiet() -> frozenset[str]:
            return frozenset() if self.bus.has_subscribers(AgentEventPublished.topic) else quiet_kinds

        async def on_event(event: AgentEvent) -> None:
            seen.observe(event)
            await self._record_event(session, iteration, event, calls)
            if cost_limit is not None and isinstance(event, UsageEvent) and not over_budget and agent is not None:
                cost = adapter.cost(seen, model=model, prices=self.config.pricing)
                if cost is not None and cost >= cost_limit:
                    over_budget.append(cost)
                    agent.cancel()  # a running turn is stopped at the budget, not after it

        checkpointer = Checkpointer(Path(session.worktree_path), session.id, self.config.workspace.checkpoint_interval)
        try:
            # A checkpoint of the worktree every workspace.checkpoint_interval while the agent runs.
            async with checkpointer:
                agent = asyncio.ensure_future(
                    self._run_with_retries(
                        adapter, session, prompt, model, raw_path, on_event, iteration, quiet=quiet, mirror=seen
                    )
                )
                result = await agent
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if over_budget and task is not None and not task.cancelling():
                partial = self._partial(adapter, seen, model)
                note = f"stopped at the budget: this turn reached ${over_budget[0]:.4f} of ${cost_limit:g} left"
                result = partial.model_copy(update={"error": note}) if partial is not None else None
            else:
                cancelled = True
        if turn is not None and turn.slot is not None:
            try:  # the agent has ended: its slot goes to the next item while this one commits
                # ...and that item's budget check must count this turn: its usage is recorded first
                try:
                    await self._record_usage(iteration, result or self._partial(adapter, seen, model))
                except AmpsmError:  # a full disk: the outcome below still tries, and says so
                    log.exception("session %s: usage of iteration %d not recorded", session.id, iteration.number)
                finally:
                    await turn.agent_done()
            except asyncio.CancelledError:
                cancelled = True
        try:
            await asyncio.shield(calls.close())  # the tool calls are in before the outcome
        except asyncio.CancelledError:
            cancelled = True
        except AmpsmError:  # a full disk: the outcome below still tries, and says so
            log.exception("session %s: tool calls of iteration %d not recorded", session.id, iteration.number)
        # Recording the outcome must complete even when we are cancelled again meanwhile (an app
        # quitting, a second Ctrl-C): otherwise the session would be left `running` (lesson 15).
        finishing = asyncio.ensure_future(
            self._finish(
                session,
                iteration,
                prompt,
                result or self._partial(adapter, seen, model),
                cancelled,
                time.monotonic() - t0,
                # a checkpoint ref exists only if this turn took one or an earlier turn left one
                checkpointed=checkpointer.taken > 0 or iteration.number > 1,
            )
        )
        while True:
            try:
                final = await asyncio.shield(finishing)
                break
            except asyncio.CancelledError:
                cancelled = True
                if finishing.done():
                    final = finishing.result()
                    break
        if cancelled:
            raise asyncio.CancelledError
        return final

    async def _record_usage(self, iteration: Iteration, result: AgentRunResult | None) -> None:
        """The turn's tokens and cost, written as soon as its agent has ended (the rest of the
        iteration's outcome follows after the commit and the test gate)."""
        if result is None or not self.telemetry or iteration.id is None:
            return
        await self.store.update_iteration(
            iteration.id,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            cache_creation_tokens=result.cache_creation_tokens,
            cache_read_tokens=result.cache_read_tokens,
            cost_usd=result.cost_usd,
        )

    def _partial(self, adapter: Any, seen: Any, model: str | None) -> AgentRunResult | None:
        """What a cancelled turn did before it was stopped: its usage, priced, and its thread."""
        if seen.events == 0:
            return None
        usage = seen.usage
        return AgentRunResult(
            agent=adapter.name,
            status=IterationStatus.INTERRUPTED,
            thread_id=seen.thread_id,
            model=adapter.recorded_model(seen, model),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_tokens=usage.cache_creation_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cost_usd=adapter.cost(seen, model=model, prices=self.config.pricing) if usage.total else None,
            summary=seen.summary,
            raw_lines=seen.raw_lines,
            events=seen.events,
            error="cancelled",
            started_at=now_iso(),
        )

    async def _run_with_retries(
        self,
        adapter: Any,
        session: Session,
        prompt: str,
        model: str | None,
        raw_path: Path,
        on_event: Any,
        iteration: Iteration | None = None,
        *,
        quiet: Any = None,
        mirror: Any = None,
    ) -> AgentRunResult:
        """One turn within one time budget: the timeout covers every attempt together. An agent that
        retries 429/5xx itself (`retries_itself`) gets one attempt, since ampsm's retries would
        multiply its own; the others get `amp.retry_attempts`. Each attempt's stream has its own file
        (`0003.jsonl`, `0003.attempt2.jsonl`, ...), so no attempt's output is overwritten."""
        timeout = session.timeout_s or self.config.amp.timeout
        deadline = time.monotonic() + timeout
        attempts = 0 if adapter.retries_itself else max(0, self.config.amp.retry_attempts)
        for attempt in range(attempts + 1):
            path = raw_path if attempt == 0 else raw_path.with_name(f"{raw_path.stem}.attempt{attempt + 1}.jsonl")
            if attempt and iteration is not None and iteration.id is not None:
                # the iteration names the attempt whose output it shows (the earlier ones stay beside it)
                iteration.raw_log_path = str(path)
                await self.store.update_iteration(iteration.id, raw_log_path=str(path))
            result = await run_agent(
                adapter,
                prompt,
                env=await workspace.env_for(self.store, session),
                cwd=Path(session.worktree_path),
                thread_id=session.thread_id,
                model=model,
                timeout=max(deadline - time.monotonic(), 0.01),
                on_event=on_event,
                config=self.config,
                raw_log_path=path,
                buffer_size=self.config.amp.stream_buffer_size,
                on_start=lambda agent_pid: self._agent_started(session, agent_pid),
                quiet=quiet,
                mirror=mirror,
            )
            delay = min(2**attempt, 10)
            if not (result.error_transient and result.status == "failed" and attempt < attempts):
                return result
            if deadline - time.monotonic() <= delay + 1:
                return result  # no time left in the turn's budget for another attempt
            log.warning("session %s: transient agent failure (%s), retry %d", session.id, result.error, attempt + 1)
            await asyncio.sleep(delay)
        return result

    async def _agent_started(self, session: Session, agent_pid: int) -> None:
        """The agent's own pid and start time: if this process dies, the next one finds the agent
        (its process group) by them and stops it before another agent starts in the worktree."""
        await self.store.update_session(session.id, agent_pid=agent_pid, agent_started_at=process_start_time(agent_pid))

    async def _record_end(self, session: Session, iteration: Iteration, exc: BaseException) -> None:
        """Record the end of an iteration whose normal bookkeeping raised: status, ended_at, the
        error with its code, and the session out of `running`. Never raises (a DB that cannot be
        written leaves it to the next start's reconcile, which sees this process gone)."""
        assert iteration.id is not None
        cancelled = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
        error = coded(exc)
        text = "cancelled" if cancelled else (error.one_line() if isinstance(error, AmpsmError) else repr(exc))
        try:
            current = await self.store.get_iteration(iteration.id)
            if current is None or current.ended_at is None or current.status == IterationStatus.RUNNING:
                status = IterationStatus.INTERRUPTED if cancelled else IterationStatus.FAILED
                await self.store.update_iteration(iteration.id, status=str(status), ended_at=now_iso(), error=text)
            fresh = await self.store.get_session(session.id)
            if fresh is not None and fresh.status is SessionStatus.RUNNING:
                new_status = SessionStatus.INTERRUPTED if cancelled else SessionStatus.ERROR
                await self.set_status(
                    session, new_status, text, pid=None, pid_started_at=None, agent_pid=None,
                    agent_started_at=None, last_error=text,
                )  # fmt: skip
        except BaseException:
            log.exception("could not record the end of iteration %s of %s", iteration.number, session.id)

    async def _record_event(
        self, session: Session, iteration: Iteration, event: AgentEvent, calls: ToolCallRecorder
    ) -> None:
        assert iteration.id is not None
        if isinstance(event, ThreadEvent) and event.id and event.id != session.thread_id:
            session.thread_id = event.id
            await self.store.update_session(session.id, thread_id=session.thread_id)
            await self.store.update_iteration(iteration.id, thread_id=session.thread_id)
            await self.store.upsert_thread(session.id, session.thread_id, session.agent)
        elif isinstance(event, ToolCallEvent) and self.telemetry:
            await calls.started(event)
        elif isinstance(event, ToolResultEvent) and self.telemetry:
            await calls.finished(event)
        if self.bus.has_subscribers(AgentEventPublished.topic):  # a headless run without --stream: nobody
            await self.bus.publish(AgentEventPublished(session_id=session.id, iteration=iteration.number, event=event))

    async def _finish(
        self,
        session: Session,
        iteration: Iteration,
        prompt: str,
        result: AgentRunResult | None,
        cancelled: bool,
        elapsed: float,
        *,
        checkpointed: bool = True,
    ) -> Iteration:
        assert iteration.id is not None
        fields: dict[str, Any] = {"ended_at": now_iso()}
        if result is None:
            status = IterationStatus.INTERRUPTED
            fields["error"] = "cancelled" if cancelled else "the agent did not start"
        else:
            status = IterationStatus(result.status)
            fields.update(
                exit_code=result.exit_code,
                summary=result.summary,
                error=result.error,
                raw_lines=result.raw_lines,
                model=result.model or iteration.model,
            )
            if result.thread_id:
                fields["thread_id"] = result.thread_id
            if self.telemetry:
                fields.update(
                    input_tokens=result.input_tokens,
                    output_tokens=result.output_tokens,
                    cache_creation_tokens=result.cache_creation_tokens,
                    cache_read_tokens=result.cache_read_tokens,
                    cost_usd=result.cost_usd,
                )
        if cancelled:
            status = IterationStatus.INTERRUPTED
        fields["status"] = str(status)

        # Whatever ended the turn, the work so far is committed (lessons 2 and the E005 rule), on the
        # session branch. A commit that fails fails the iteration, with git's message and its code.
        commit = None
        summary = commit_summary(result.summary if result else None, prompt)
        try:
            commit = await gitops.commit_iteration(
                Path(session.worktree_path),
                summary,
                session_id=session.id,
                iteration=iteration.number,
                prefix=self.config.git.commit_prefix,
                branch=session.branch or None,
            )
        except (AmpsmError, GitError, OSError) as exc:
            failure = coded(exc)
            if not isinstance(failure, AmpsmError):  # an OSError under git (a full disk, a gone directory)
                failure = AmpsmError(ErrorCode.GIT, f"commit failed in {session.worktree_path}: {exc}")
            agent_error = fields.get("error")
            fields["error"] = (
                f"{failure.one_line()}; whatever the agent changed is still in the worktree"
                f" {session.worktree_path}, uncommitted" + (f" (agent: {agent_error})" if agent_error else "")
            )
            if status is not IterationStatus.INTERRUPTED:
                status = IterationStatus.FAILED
                fields["status"] = str(status)
        else:
            if checkpointed:  # the commit holds what they kept (a first turn that took none has none)
                await supersede(Path(session.worktree_path), session.id)
        if commit is not None:
            fields.update(
                commit_sha=commit.sha,
                files_changed=commit.files_changed,
                lines_added=commit.lines_added,
                lines_removed=commit.lines_removed,
            )
            await self.bus.publish(
                GitCommitted(
                    session_id=session.id,
                    iteration=iteration.number,
                    sha=commit.sha,
                    message=f"{self.config.git.commit_prefix} {summary}",
                    files_changed=commit.files_changed,
                    lines_added=commit.lines_added,
                    lines_removed=commit.lines_removed,
                )
            )

        test: TestResult | None = None
        if status is IterationStatus.COMPLETED and session.script and not cancelled:
            test = await self.run_test_script(session, iteration.number)
            fields.update(test_exit_code=test.exit_code, test_log=test.log, test_duration_ms=test.duration_ms)
            if test.timed_out:
                fields["test_exit_code"] = -1
        await self.store.update_iteration(iteration.id, **fields)

        if status is IterationStatus.COMPLETED:
            if test is None or test.passed:
                new_status, reason = SessionStatus.IDLE, "ready for the next iteration"
            else:
                new_status, reason = SessionStatus.AWAITING_INPUT, f"E006: test script failed (exit {test.exit_code})"
        elif status is IterationStatus.INTERRUPTED:
            new_status, reason = SessionStatus.INTERRUPTED, fields.get("error") or "the agent ended mid-stream"
        elif status is IterationStatus.TIMEOUT:
            new_status, reason = SessionStatus.ERROR, "E005: the agent timed out"
        else:
            new_status, reason = SessionStatus.ERROR, fields.get("error") or "the agent failed"
        last_test = test.exit_code if test else session.last_test_exit
        await self.set_status(
            session,
            new_status,
            reason,
            pid=None,
            pid_started_at=None,
            agent_pid=None,
            agent_started_at=None,
            last_test_exit=last_test,
            last_error=None if new_status is SessionStatus.IDLE else reason,
        )
        final = await self.store.get_iteration(iteration.id)
        assert final is not None
        await self.bus.publish(
            IterationFinished(
                session_id=session.id,
                iteration=iteration.number,
                status=str(status),
                exit_code=final.exit_code,
                commit_sha=final.commit_sha,
                input_tokens=final.input_tokens,
                output_tokens=final.output_tokens,
                cost_usd=final.cost_usd,
                duration_ms=int(elapsed * 1000),
                error=final.error,
            )
        )
        return final

    async def run_test_script(self, session: Session, number: int) -> TestResult:
        assert session.script
        timeout = session.timeout_s or self.config.amp.timeout
        test = await run_script(
            session.script,
            Path(session.worktree_path),
            timeout=timeout,
            env={**await workspace.env_for(self.store, session), "AMPSM_ITERATION": str(number)},
        )
        await self.bus.publish(
            TestFinished(
                session_id=session.id,
                iteration=number,
                exit_code=test.exit_code,
                duration_ms=test.duration_ms,
                passed=test.passed,
                log_tail=test.log[-4000:],
            )
        )
        return test


def coded(exc: BaseException) -> BaseException:
    """The error a user sees for `exc`: git and SQLite failures get their code (E001, E003) instead
    of reaching the CLI as a code-less "internal error"; everything else is returned as it is."""
    import sqlite3

    if isinstance(exc, GitError):
        detail = (exc.result.stderr or exc.result.stdout).strip().splitlines()
        return AmpsmError(ErrorCode.GIT, f"git {' '.join(exc.result.args[:2])} failed: {' '.join(detail[:2])}")
    if isinstance(exc, sqlite3.Error):
        return AmpsmError(ErrorCode.DATABASE, f"database error: {exc}")
    return exc


def iteration_error(iteration: Iteration) -> AmpsmError | None:
    """The coded error a failed iteration recorded (`E00N: ...` at the start of its error), if any."""
    text = iteration.error or ""
    if len(text) > 5 and text[:5] in {c.value + ":" for c in ErrorCode}:
        return AmpsmError(text[:4], text[5:].strip())
    return None


def require_completed(iteration: Iteration) -> None:
    """Turn a finished iteration into the error a headless command should exit with."""
    if iteration.status is IterationStatus.TIMEOUT:
        raise AmpsmError(ErrorCode.TIMEOUT, f"iteration {iteration.number} timed out; work so far is committed")
    if iteration.test_exit_code not in (None, 0):
        raise AmpsmError(
            ErrorCode.TEST_FAILED,
            f"test script failed (exit {iteration.test_exit_code}) after iteration {iteration.number}",
            details=iteration.test_log,
        )
