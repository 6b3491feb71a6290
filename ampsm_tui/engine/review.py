"""ReviewService: landing a session as one operation (squash or keep, rebase, re-test, merge).

The review wizard in the TUI and `ampsm land` both call `land(session, plan)`, so scripts get the
same plan and the same guarantee as the wizard: every step runs under one repository lock, each
step is published on the bus once (`land.step`), and a land that stops (a conflict, failing tests)
is a *result*, not an exception: `LandResult.resume()` finishes it after the user resolved the
files, `LandResult.abort()` puts everything back as it was before the land started (the conflicted
operation aborted, the branch tip restored, so a squash done earlier in the plan is undone too).

A stopped land survives the process (the CLI resumes it in a later command): its plan and the
branch tip it started from are kept in `<git common dir>/ampsm-land/<session id>.json`, beside the
conflict git itself keeps, and removed when the land finishes or is aborted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from .config import MergeMode
from .errors import AmpsmError, ErrorCode, UsageError
from .events import LandFinished, LandStepFinished, MetricsEventBus
from .git.integrate import IntegrationResult
from .git.locks import RepoLock
from .models import Session, SessionStatus

if TYPE_CHECKING:
    from .config import Config
    from .sessions import SessionService

Step = Literal["squash", "rebase", "retest", "merge"]
STEPS: tuple[Step, ...] = ("squash", "rebase", "retest", "merge")
StepStatus = Literal["done", "skipped", "failed", "conflict"]
LandStatus = Literal["landed", "conflict", "tests-failed", "aborted"]
STATE_DIR = "ampsm-land"


class LandPlan(BaseModel):
    """What to do; `None` means the session's or the config's default."""

    squash: bool = True
    message: str | None = None  # the squash commit message (default: written from the iterations)
    rebase: bool = True
    onto: str | None = None  # default: the session's base branch
    retest: bool | None = None  # default: when the session has a test script
    merge_mode: MergeMode | None = None  # default: git.merge_mode
    merge_message: str | None = None  # the merge commit's message (when not a fast-forward)
    remove_worktree: bool | None = None  # default: git.remove_worktree_after_merge


@dataclass
class StepOutcome:
    step: Step
    status: StepStatus
    detail: str
    sha: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "status": self.status, "detail": self.detail, "sha": self.sha}


@dataclass
class LandConflict:
    operation: str  # "rebase" or "merge"
    files: list[str]
    path: str  # where the operation waits for the resolution


@dataclass
class LandResult:
    """The outcome of `land`, `resume` or `abort`. A stopped land (`conflict`, `tests-failed`) can
    be resumed or aborted from here, or by session id later (`ReviewService.resume/abort`)."""

    session_id: str
    status: LandStatus
    steps: list[StepOutcome] = field(default_factory=list)
    conflict: LandConflict | None = None
    sha: str | None = None  # the base branch tip once landed
    base_branch: str = ""
    started_tip: str | None = None  # the session branch tip before the land (restored on abort)
    message: str = ""
    _service: ReviewService | None = field(default=None, repr=False, compare=False)

    @property
    def landed(self) -> bool:
        return self.status == "landed"

    @property
    def stopped(self) -> bool:
        """Waiting for the user: resume or abort."""
        return self.status in ("conflict", "tests-failed")

    async def resume(self, *, retest: bool | None = None) -> LandResult:
        assert self._service is not None
        return await self._service.resume(self.session_id, retest=retest)

    async def abort(self) -> LandResult:
        assert self._service is not None
        return await self._service.abort(self.session_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "status": self.status,
            "landed": self.landed,
            "base_branch": self.base_branch,
            "sha": self.sha,
            "started_tip": self.started_tip,
            "steps": [s.to_dict() for s in self.steps],
            "conflict": None
            if self.conflict is None
            else {"operation": self.conflict.operation, "files": self.conflict.files, "path": self.conflict.path},
            "message": self.message,
        }


class _State(BaseModel):
    """A stopped land, on disk: the plan, where it stopped and the tip to restore on abort."""

    session_id: str
    plan: LandPlan
    started_tip: str
    stopped_at: Step
    steps: list[dict[str, Any]] = []


StepListener = Callable[[StepOutcome], Awaitable[None] | None]


class ReviewService:
    def __init__(self, config: Config, sessions: SessionService, bus: MetricsEventBus) -> None:
        self.config = config
        self.sessions = sessions
        self.bus = bus

    # -- the public operations ------------------------------------------------------------------

    async def land(self, ref: str, plan: LandPlan | None = None) -> LandResult:
        """Run the plan on the session. Refused (E001) while an earlier land of it is stopped."""
        plan = plan or LandPlan()
        session = await self.sessions.get(ref)
        self.sessions._idle_for_git(session)
        worktree = self.sessions._worktree(session)
        async with RepoLock(worktree, self.config.git.lock_timeout, purpose=f"land {session.id}"):
            if await self._load(session) is not None:
                raise AmpsmError(
                    ErrorCode.GIT,
                    f"a land of {session.id} is stopped (conflict or failing tests); "
                    f"`ampsm land {session.id} --resume` finishes it, `--abort` undoes it",
                )
            tip = await self.sessions.head(session.id)
            state = _State(session_id=session.id, plan=plan, started_tip=tip, stopped_at="squash")
            return await self._run(session, state, list(STEPS))

    async def resume(self, ref: str, *, retest: bool | None = None) -> LandResult:
        """Finish a stopped land: continue the kept rebase/merge (the files resolved), then the rest
        of the plan. `retest=False` skips a re-test that failed before."""
        session = await self.sessions.get(ref)
        async with RepoLock(Path(session.repo_path), self.config.git.lock_timeout, purpose=f"land {session.id}"):
            state = await self._load(session)
            if state is None:
                raise UsageError(f"no stopped land for session {session.id}; `ampsm land {session.id}` starts one")
            if retest is not None:
                state.plan.retest = retest
            steps = [StepOutcome(**s) for s in state.steps]
            at = state.stopped_at
            if at in ("rebase", "merge"):
                result = (
                    await self.sessions.continue_operation(session.id) if await self._in_progress(session) else None
                )
                if result is not None and not result.ok:
                    return await self._stop(session, state, at, steps, result)
                if at == "merge":
                    from .git.repo import rev

                    sha = await rev(Path(session.repo_path), f"refs/heads/{session.base_branch}")
                    await self._record(session, steps, StepOutcome("merge", "done", "merged after resolving", sha))
                    return await self._landed(session, state, steps, sha)
                await self._record(
                    session, steps, StepOutcome("rebase", "done", "rebased after resolving", await self._head(session))
                )
                remaining = list(STEPS[STEPS.index("retest") :])
            else:
                remaining = list(STEPS[STEPS.index(at) :])
            session = await self.sessions.get(session.id)
            return await self._run(session, state, remaining, steps)

    async def abort(self, ref: str) -> LandResult:
        """Undo a stopped land: abort the kept operation and put the branch back at the tip it had
        before the land (a squash of this land is undone). Every ref and the worktree are as before."""
        session = await self.sessions.get(ref)
        async with RepoLock(Path(session.repo_path), self.config.git.lock_timeout, purpose=f"land {session.id}"):
            state = await self._load(session)
            if state is None:
                raise UsageError(f"no stopped land for session {session.id}")
            await self.sessions.abort_operation(session.id)
            steps = [StepOutcome(**s) for s in state.steps]
            if await self._head(session) != state.started_tip:
                await self.sessions.restore_tip(session.id, state.started_tip)
            await self._clear(session)
            result = LandResult(
                session.id,
                "aborted",
                steps,
                base_branch=session.base_branch,
                started_tip=state.started_tip,
                message="everything is as before the land",
                _service=self,
            )
            await self.bus.publish(
                LandFinished(session_id=session.id, status="aborted", sha=None, message=result.message)
            )
            return result

    async def stopped(self, ref: str) -> bool:
        """Is a land of this session waiting for resume or abort?"""
        return await self._load(await self.sessions.get(ref)) is not None

    # -- the steps ------------------------------------------------------------------------------

    async def _run(
        self, session: Session, state: _State, remaining: list[Step], steps: list[StepOutcome] | None = None
    ) -> LandResult:
        plan = state.plan
        steps = steps if steps is not None else []
        if "squash" in remaining:
            if plan.squash:
                sha = await self.sessions.squash(session.id, plan.message)
                await self._record(session, steps, StepOutcome("squash", "done", f"squashed into {sha[:8]}", sha))
            else:
                await self._record(session, steps, StepOutcome("squash", "skipped", "kept the branch history"))
        if "rebase" in remaining:
            onto = plan.onto or session.base_branch
            if plan.rebase:
                result = await self.sessions.rebase(session.id, onto, keep_conflict=True)
                if not result.ok:
                    return await self._stop(session, state, "rebase", steps, result)
                await self._record(session, steps, StepOutcome("rebase", "done", f"rebased onto {onto}", result.sha))
            else:
                await self._record(session, steps, StepOutcome("rebase", "skipped", "not rebased"))
        if "retest" in remaining:
            retest = bool(session.script) if plan.retest is None else plan.retest
            if retest and not session.script:
                raise UsageError(f"session {session.id} has no test script to re-run")
            if retest:
                code, log = await self.sessions.run_tests(session.id)
                if code != 0:
                    tail = (log or "").strip().splitlines()[-1:] or [""]
                    outcome = StepOutcome("retest", "failed", f"tests failed (exit {code}) {tail[0][:60]}".rstrip())
                    await self._record(session, steps, outcome)
                    state.stopped_at = "retest"
                    return await self._pause(session, state, steps, "tests-failed", outcome.detail)
                await self._record(session, steps, StepOutcome("retest", "done", "tests passed"))
            else:
                await self._record(session, steps, StepOutcome("retest", "skipped", "tests not re-run"))
        result = await self.sessions.merge(
            session.id,
            keep_conflict=True,
            remove_worktree=plan.remove_worktree,
            message=plan.merge_message,
            mode=plan.merge_mode,
        )
        if not result.ok:
            return await self._stop(session, state, "merge", steps, result)
        what = "already merged" if result.already_merged else ("fast-forward" if result.fast_forward else "merged")
        await self._record(
            session, steps, StepOutcome("merge", "done", f"{what} into {session.base_branch}", result.sha)
        )
        return await self._landed(session, state, steps, result.sha, done_by_merge=True)

    async def _stop(
        self, session: Session, state: _State, at: Step, steps: list[StepOutcome], result: IntegrationResult
    ) -> LandResult:
        if not result.in_progress:  # the operation failed and was not kept: nothing to resume
            raise AmpsmError(ErrorCode.GIT, f"{at} failed: {result.message.strip() or 'unknown error'}")
        files = ", ".join(result.conflicts)
        await self._record(session, steps, StepOutcome(at, "conflict", f"conflict in {files}"))
        state.stopped_at = at
        where = str(result.path or session.worktree_path)
        land = await self._pause(session, state, steps, "conflict", f"{at} conflicts in {files}")
        land.conflict = LandConflict(result.operation, list(result.conflicts), where)
        return land

    async def _pause(
        self, session: Session, state: _State, steps: list[StepOutcome], status: LandStatus, message: str
    ) -> LandResult:
        state.steps = [s.to_dict() for s in steps]
        await self._save(session, state)
        await self.bus.publish(LandFinished(session_id=session.id, status=status, sha=None, message=message))
        return LandResult(
            session.id,
            status,
            steps,
            base_branch=session.base_branch,
            started_tip=state.started_tip,
            message=message,
            _service=self,
        )

    async def _landed(
        self, session: Session, state: _State, steps: list[StepOutcome], sha: str | None, *, done_by_merge: bool = False
    ) -> LandResult:
        if not done_by_merge:  # a merge finished by `continue`: the session is done now
            await self._finish_merge(session, state.plan)
        await self._clear(session)
        message = f"landed on {session.base_branch}"
        await self.bus.publish(LandFinished(session_id=session.id, status="landed", sha=sha, message=message))
        return LandResult(
            session.id,
            "landed",
            steps,
            sha=sha,
            base_branch=session.base_branch,
            started_tip=state.started_tip,
            message=message,
            _service=self,
        )

    async def _finish_merge(self, session: Session, plan: LandPlan) -> None:
        from . import git as gitops

        remove = self.config.git.remove_worktree_after_merge if plan.remove_worktree is None else plan.remove_worktree
        if remove:
            await gitops.remove_worktree(
                Path(session.repo_path),
                Path(session.worktree_path),
                session.branch,
                session_id=session.id,
                lock_timeout=self.config.git.lock_timeout,
            )
        await self.sessions.runner.set_status(session, SessionStatus.DONE, f"merged into {session.base_branch}")

    async def _record(self, session: Session, steps: list[StepOutcome], outcome: StepOutcome) -> None:
        steps.append(outcome)
        await self.bus.publish(
            LandStepFinished(
                session_id=session.id, step=outcome.step, status=outcome.status, detail=outcome.detail, sha=outcome.sha
            )
        )

    # -- helpers --------------------------------------------------------------------------------

    async def _head(self, session: Session) -> str:
        return await self.sessions.head(session.id)

    async def _in_progress(self, session: Session) -> bool:
        from .git.integrate import _locate

        return await _locate(Path(session.repo_path), Path(session.worktree_path)) is not None

    @staticmethod
    async def _state_path(session: Session) -> Path:
        from .git.repo import repo_paths

        return Path((await repo_paths(session.repo_path)).common_dir) / STATE_DIR / f"{session.id}.json"

    async def _load(self, session: Session) -> _State | None:
        path = await self._state_path(session)
        try:
            return _State.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    async def _save(self, session: Session, state: _State) -> None:
        path = await self._state_path(session)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state.model_dump(mode="json"), indent=2), encoding="utf-8")
        os.replace(tmp, path)

    async def _clear(self, session: Session) -> None:
        (await self._state_path(session)).unlink(missing_ok=True)
