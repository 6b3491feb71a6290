"""SessionService: every user action on a session, for the TUI and the headless commands alike."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Collection
from pathlib import Path
from typing import Any

from . import git as gitops
from . import workspace
from .clock import now_iso
from .config import Config, MergeMode
from .errors import AmpsmError, ErrorCode, UsageError
from .events import GitConflict, MetricsEventBus, SessionCreated
from .git.integrate import IntegrationResult
from .git.runner import GitError
from .models import Iteration, Session, SessionStatus
from .procinfo import same_process
from .runner import IterationRunner
from .secrets import scrub, secrets_dir, stored_url
from .store import Store

log = logging.getLogger(__name__)

FIX_PROMPT = (
    "The test script `{script}` failed with exit code {code}. Fix the code so that it passes. "
    "Here is the end of its output:\n\n{log}"
)


class SessionService:
    def __init__(self, config: Config, store: Store, bus: MetricsEventBus) -> None:
        self.config = config
        self.store = store
        self.bus = bus
        self.runner = IterationRunner(config, store, bus)
        self._running: dict[str, asyncio.Task[Any]] = {}

    # -- lifecycle --------------------------------------------------------------------------

    async def reconcile(self) -> list[str]:
        """Sessions marked running whose process is gone are `interrupted` (lesson 21), and the agent
        that process left behind (its own process group, so it outlives a kill -9 of ampsm) is
        stopped: checked by the agent's pid and start time, not by a flag."""
        fixed = []
        for s in await self.store.list_sessions(status=SessionStatus.RUNNING):
            if s.id in self._running or same_process(s.pid, s.pid_started_at):
                continue
            reason = "process died mid-iteration"
            try:
                orphan = await self._stop_orphan(s)
            except AmpsmError as exc:  # every command reconciles: it must not fail them all
                log.warning("%s", exc.message)
                orphan, reason = None, f"{reason}; its agent (process group {s.agent_pid}) could not be stopped"
            if orphan is not None:
                reason += f"; its agent (process group {orphan}) was stopped"
            await self.store.set_session_status(
                s.id, SessionStatus.INTERRUPTED, pid=None, pid_started_at=None, last_error=reason
            )
            last = await self.store.last_iteration(s.id)
            if last and last.id is not None and last.status == "running":
                await self.store.update_iteration(last.id, status="interrupted", error=reason, ended_at=now_iso())
            fixed.append(s.id)
        return fixed

    async def _stop_orphan(self, session: Session) -> int | None:
        """Stop the agent a dead ampsm process left running for `session` (SIGTERM, then SIGKILL);
        its pid when there was one. E002 with how to stop it when it cannot be stopped: a second
        agent must never start beside it in the same worktree."""
        from .agents.process import agent_alive, terminate_group

        pgid = session.agent_pid
        if not pgid or session.id in self._running:
            return None
        if not agent_alive(pgid, session.agent_started_at):
            await self.store.update_session(session.id, agent_pid=None, agent_started_at=None)
            return None
        log.warning("session %s: stopping orphaned agent process group %s", session.id, pgid)
        await terminate_group(pgid, grace_s=3.0)
        if agent_alive(pgid, session.agent_started_at):
            raise AmpsmError(
                ErrorCode.AGENT,
                f"the agent of session {session.id} from an earlier run (process group {pgid}) is still running"
                f" and could not be stopped; stop it with `kill -KILL -- -{pgid}`, then retry",
            )
        await self.store.update_session(session.id, agent_pid=None, agent_started_at=None)
        return pgid

    async def shutdown(self, session_ids: Collection[str] | None = None) -> None:
        """Cancel the running iterations (of `session_ids` only, when given) and wait for them to
        record their end."""
        tasks = [t for sid, t in self._running.items() if session_ids is None or sid in session_ids]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def get(self, ref: str) -> Session:
        return await self.store.resolve_session(ref)

    # -- create -----------------------------------------------------------------------------

    async def create(
        self,
        *,
        repo: str | Path,
        name: str,
        prompt: str = "",
        script: str | None = None,
        agent: str = "amp",
        agent_cmd: str | None = None,
        model: str | None = None,
        timeout_s: float | None = None,
        base: str | None = None,
        notify_webhook: str | None = None,
        batch_item_id: str | None = None,
        setup: str | None = None,
    ) -> Session:
        from .agents.registry import get_adapter

        name, prompt = scrub(name), scrub(prompt)  # before the slug: a key must not reach a branch name
        if not name.strip():
            raise UsageError("a session needs a name")
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise UsageError("a session name is one line of text (no newlines or control characters)")
        for flag, value in (("--script", script), ("--agent-cmd", agent_cmd), ("--setup", setup)):
            # A command is run again later: storing it redacted would break it, storing it whole
            # would put the key in the DB. Keys belong in the environment.
            if value and scrub(value) != value:
                raise UsageError(f"{flag} contains what looks like an API key; read it from the environment instead")
        adapter = get_adapter(agent, agent_cmd, config=self.config)  # unknown agent: fail before any git work
        adapter.validate_model(model or self.config.amp.default_model)
        repo_path = (await gitops.repo_paths(Path(repo).expanduser())).root
        # Without --base: the configured default, else the main checkout's branch (create_worktree
        # decides, in the ref lookup it makes anyway).
        base_branch = base or self.config.git.default_base_branch
        session = Session(
            name=name.strip(),
            prompt=prompt,
            repo_path=str(repo_path),
            base_branch=base_branch,
            agent=agent,
            agent_cmd=agent_cmd,
            model=model,
            script=script,
            timeout_s=timeout_s,
            batch_item_id=batch_item_id,
            setup=setup,
        )
        if notify_webhook:  # a token in the URL stays out of the DB, its backups and every listing
            session.notify_webhook = stored_url(notify_webhook, secrets_dir(self.store.path), f"{session.id}.webhook")
        info = await gitops.create_worktree(
            repo_path,
            session.id,
            session.name,
            base_branch,
            worktree_dir=self.config.git.worktree_dir,
            lock_timeout=self.config.git.lock_timeout,
            default_base=not base,
        )
        session.base_branch = info.base_branch
        session.branch = info.branch
        session.worktree_path = str(info.path)
        try:
            session = await self.store.create_session(session)
        except BaseException:
            # No orphaned worktree when the row cannot be written.
            await gitops.remove_worktree(repo_path, info.path, info.branch, session_id=session.id, force=True)
            raise
        # Ports, .worktreeinclude and the setup script; a setup failure leaves the session `error`.
        session = await workspace.prepare(self, session)
        await self.bus.publish(
            SessionCreated(
                session_id=session.id,
                name=session.name,
                repo_path=session.repo_path,
                branch=session.branch,
                worktree_path=session.worktree_path,
            )
        )
        return session

    # -- iterate ----------------------------------------------------------------------------

    def is_running(self, session_id: str) -> bool:
        return session_id in self._running

    def running_ids(self) -> list[str]:
        """The sessions this engine is iterating now (a best-of run's candidates, a batch's items)."""
        return list(self._running)

    async def iterate(
        self, ref: str, prompt: str | None = None, *, until_green: int = 1, max_cost: float | None = None
    ) -> Iteration:
        session = await self.get(ref)
        if session.status in (SessionStatus.DONE, SessionStatus.ARCHIVED):
            raise UsageError(f"session {session.id} is {session.status}; it cannot be iterated")
        if session.status is SessionStatus.RUNNING and same_process(session.pid, session.pid_started_at):
            raise UsageError(f"session {session.id} is already running an iteration (pid {session.pid})")
        await self._ready_to_iterate(session)
        task = asyncio.current_task()
        assert task is not None
        self._running[session.id] = task
        try:
            return await self._iterate_loop(session, prompt, until_green, max_cost)
        finally:
            self._running.pop(session.id, None)

    async def _ready_to_iterate(self, session: Session) -> None:
        """Refuse before anything runs when the worktree is not where an agent's work can be committed:
        gone, mid-rebase/merge (left by a killed `ampsm rebase`), off the session branch, or with
        an agent of an earlier run still alive in it (stopped here, or refused)."""
        from .git.commits import ensure_session_branch, require_own_worktree
        from .git.locks import RepoLock

        wt = self._worktree(session)
        await self._stop_orphan(session)
        if workspace.setup_failed(session):
            await workspace.setup_again(self, session)
        await workspace.ports_again(self, session)
        try:
            # Shared, as the iteration's commit takes it for the same check: only this worktree and
            # its own branch are touched, so other sessions' commits and checks run beside it.
            async with RepoLock(wt, self.config.git.lock_timeout, purpose=f"iterate {session.id}", shared=True):
                if session.branch:  # checks that it is its own worktree first
                    await ensure_session_branch(wt, session.branch, session_id=session.id)
                else:
                    await require_own_worktree(wt)
        except AmpsmError as exc:
            raise AmpsmError(exc.code, f"{exc.message} (nothing was run)", details=exc.details) from None
        except GitError as exc:
            raise AmpsmError(ErrorCode.GIT, f"worktree {wt} cannot be used: {exc} (nothing was run)") from None

    async def _on_session_branch(self, session: Session) -> None:
        """Before a merge: the session's work must be on its branch (commits an agent made elsewhere
        are brought back), or E004 naming the branch: merging an empty branch and calling the
        session done would lose the work."""
        from .git.commits import ensure_session_branch
        from .git.locks import RepoLock

        wt = Path(session.worktree_path)
        if not session.branch or not wt.is_dir():
            return
        try:
            async with RepoLock(wt, self.config.git.lock_timeout, purpose=f"check {session.id}"):
                await ensure_session_branch(wt, session.branch, session_id=session.id)
        except GitError as exc:
            raise AmpsmError(ErrorCode.GIT, f"worktree {wt} cannot be checked: {exc}") from None

    async def _iterate_loop(
        self, session: Session, prompt: str | None, until_green: int, max_cost: float | None
    ) -> Iteration:
        text = scrub(prompt) if prompt is not None and prompt.strip() else None
        if text is None:
            last = await self.store.last_iteration(session.id)
            text = session.prompt if last is None else (session.prompt or "Continue.")
        from .budget import budget_left, session_stop

        iteration: Iteration | None = None
        for _ in range(max(1, until_green)):
            stop = await session_stop(self.store, self.config, session.id, max_cost)
            if stop is not None:  # checked before every turn: a turn never starts past a budget
                if iteration is None:
                    raise UsageError(f"{stop.message}; nothing was run")
                log.info("session %s: %s", session.id, stop.message)
                break
            fresh = await self.get(session.id)
            iteration = await self.runner.run(
                fresh, text, cost_limit=await budget_left(self.store, self.config, session.id, max_cost)
            )
            failed_test = iteration.test_exit_code not in (None, 0)
            if not failed_test or iteration.status != "completed":
                break
            text = FIX_PROMPT.format(
                script=fresh.script, code=iteration.test_exit_code, log=(iteration.test_log or "")[-6000:]
            )
        assert iteration is not None
        return iteration

    async def cancel(self, ref: str) -> bool:
        """Stop a running iteration: in this process by cancelling its task, in another by SIGTERM."""
        session = await self.get(ref)
        task = self._running.get(session.id)
        if task is not None:
            task.cancel()
            return True
        if (
            session.status is SessionStatus.RUNNING
            and session.pid
            and session.pid != os.getpid()  # a stale claim of this very process: never signal ourselves
            and same_process(session.pid, session.pid_started_at)
        ):
            try:
                os.kill(session.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            return True
        await self.reconcile()
        return False

    async def run_tests(self, ref: str) -> tuple[int | None, str]:
        session = await self.get(ref)
        if not session.script:
            raise UsageError(f"session {session.id} has no test script")
        self._worktree(session)
        number = (await self.store.next_iteration_number(session.id)) - 1
        result = await self.runner.run_test_script(session, number)
        await self.store.update_session(session.id, last_test_exit=result.exit_code)
        return result.exit_code, result.log

    # -- review -----------------------------------------------------------------------------

    async def diff(self, ref: str, *, staged: bool = False, stat: bool = False, last_iteration: bool = False) -> str:
        session = await self.get(ref)
        if session.status is SessionStatus.DONE:
            # Merged: what the merge landed (its worktree and branch may be gone by now).
            from .git.diffs import merged_diff

            landed = await merged_diff(Path(session.repo_path), session.id, stat=stat)
            if landed is not None:
                return landed
        return await gitops.session_diff(
            self._worktree(session), session.base_branch, staged=staged, stat=stat, last_iteration=last_iteration
        )

    async def merged_as(self, ref: str) -> str | None:
        """The merge commit (or fast-forwarded tip) a merged session landed as, when recorded."""
        from .git.diffs import merged_range

        session = await self.get(ref)
        found = await merged_range(Path(session.repo_path), session.id)
        return found[1] if found else None

    async def diff_files(self, ref: str, *, last_iteration: bool = False) -> list[Any]:
        session = await self.get(ref)
        return await gitops.diff_files(self._worktree(session), session.base_branch, last_iteration=last_iteration)

    def _idle_for_git(self, session: Session) -> None:
        if session.id in self._running or (
            session.status is SessionStatus.RUNNING and same_process(session.pid, session.pid_started_at)
        ):
            raise UsageError(f"session {session.id} is running an iteration; cancel it first")
        if session.status in (SessionStatus.DONE, SessionStatus.ARCHIVED):
            raise UsageError(f"session {session.id} is {session.status}")

    @staticmethod
    def _worktree(session: Session) -> Path:
        """The session's worktree, or E004 when it is gone (deleted by hand): no git call runs in a
        directory that does not exist."""
        path = Path(session.worktree_path)
        if not path.is_dir():
            raise AmpsmError(
                ErrorCode.WORKTREE,
                f"worktree {path} of session {session.id} is missing (deleted by hand?); its committed work is on"
                f" branch {session.branch}: `ampsm restore {session.id}` brings the worktree back (from its last"
                f" checkpoint), `ampsm archive {session.id}` keeps the work and tidies up",
            )
        return path

    async def suggest_message(self, ref: str) -> str:
        from .messages import squash_message

        session = await self.get(ref)
        return squash_message(session, await self.store.list_iterations(session.id))

    async def squash(self, ref: str, message: str | None = None) -> str:
        """Squash the session's amp: commits; without a message, one written from the iterations."""
        session = await self.get(ref)
        self._idle_for_git(session)
        if message is None:
            message = await self.suggest_message(session.id)
        if not message.strip():
            raise UsageError("a squash needs a commit message")
        return await gitops.squash(
            Path(session.repo_path),
            self._worktree(session),
            session.base_branch,
            message,
            prefix=self.config.git.commit_prefix,
            manual=self.config.git.squash_manual,
            lock_timeout=self.config.git.lock_timeout,
        )

    async def _conflict(self, session: Session, operation: str, result: IntegrationResult) -> IntegrationResult:
        if not result.ok and result.conflicts:
            await self.bus.publish(GitConflict(session_id=session.id, operation=operation, files=result.conflicts))
        return result

    async def rebase(self, ref: str, onto: str | None = None, *, keep_conflict: bool = False) -> IntegrationResult:
        session = await self.get(ref)
        self._idle_for_git(session)
        result = await gitops.rebase(
            Path(session.repo_path),
            self._worktree(session),
            onto or session.base_branch,
            keep_conflict=keep_conflict,
            lock_timeout=self.config.git.lock_timeout,
        )
        return await self._conflict(session, "rebase", result)

    async def merge(
        self,
        ref: str,
        *,
        keep_conflict: bool = False,
        remove_worktree: bool | None = None,
        message: str | None = None,
        mode: MergeMode | None = None,
    ) -> IntegrationResult:
        session = await self.get(ref)
        self._idle_for_git(session)
        await self._on_session_branch(session)
        remove = self.config.git.remove_worktree_after_merge if remove_worktree is None else remove_worktree
        result = await gitops.merge(
            Path(session.repo_path),
            Path(session.worktree_path),
            session.branch,
            session.base_branch,
            mode=mode or self.config.git.merge_mode,
            keep_conflict=keep_conflict,
            message=message,
            remove_after=False,  # removed below: teardown script first, work kept, ports released
            session_id=session.id,
            lock_timeout=self.config.git.lock_timeout,
        )
        await self._conflict(session, "merge", result)
        if result.ok and result.base_before and result.sha and not result.already_merged:
            from .git.diffs import record_merge

            await record_merge(Path(session.repo_path), session.id, result.base_before, result.sha)
        if result.ok:
            if remove:
                kept = await self._remove(session, merged_tip=result.merged_tip)
                if kept.ref:
                    result.message = kept.describe()
            await self.runner.set_status(session, SessionStatus.DONE, f"merged into {session.base_branch}")
        return result

    async def continue_operation(self, ref: str) -> IntegrationResult:
        session = await self.get(ref)
        result = await gitops.continue_operation(
            Path(session.repo_path), Path(session.worktree_path), lock_timeout=self.config.git.lock_timeout
        )
        return await self._conflict(session, "continue", result)

    async def mark_resolved(self, ref: str, path: str) -> Path:
        """Stage one file of the session's kept conflict as resolved (refused while it holds markers);
        returns where the operation waits."""
        session = await self.get(ref)
        return await gitops.mark_resolved(
            Path(session.repo_path), Path(session.worktree_path), path, lock_timeout=self.config.git.lock_timeout
        )

    async def head(self, ref: str) -> str:
        """The session branch's tip, to restore with `restore_tip` if a review is abandoned."""
        from .git.runner import git_out

        session = await self.get(ref)
        return await git_out("rev-parse", "HEAD", cwd=Path(session.worktree_path))

    async def restore_tip(self, ref: str, sha: str) -> None:
        session = await self.get(ref)
        self._idle_for_git(session)
        await gitops.restore_tip(Path(session.worktree_path), sha, lock_timeout=self.config.git.lock_timeout)

    async def abort_operation(self, ref: str) -> bool:
        """Abort the session's kept rebase/merge; False when none was in progress."""
        session = await self.get(ref)
        try:
            return await gitops.abort_operation(
                Path(session.repo_path), Path(session.worktree_path), lock_timeout=self.config.git.lock_timeout
            )
        except GitError as exc:  # e.g. uncommitted changes the abort would overwrite
            detail = " ".join((exc.result.stderr or exc.result.stdout).strip().splitlines()[:3])
            raise AmpsmError(
                ErrorCode.GIT,
                f"abort failed in {session.worktree_path}: {detail}; commit or stash the uncommitted changes"
                " there, then run `ampsm abort` again",
            ) from None

    async def archive(self, ref: str) -> str | None:
        """Remove the worktree, keeping any unmerged or uncommitted work under refs/ampsm/archive/ (lesson 19)."""
        return (await self.archive_keep(ref)).ref

    async def archive_keep(self, ref: str) -> gitops.ArchiveResult:
        """`archive`, returning what was kept and how to get it back."""
        session = await self.get(ref)
        if session.status is SessionStatus.ARCHIVED:
            raise UsageError(f"session {session.id} is already archived")
        if session.status is not SessionStatus.DONE:
            self._idle_for_git(session)
        kept = await self._remove(session)
        await self.runner.set_status(session, SessionStatus.ARCHIVED, "archived")
        return kept

    async def _remove(self, session: Session, *, merged_tip: str | None = None) -> gitops.ArchiveResult:
        """Teardown script, then worktree and branch removed with their work kept, then ports freed.
        `merged_tip`: the branch tip a merge has just put on the base branch."""
        kept = gitops.ArchiveResult(ref=None, tip=None, wip_sha=None, session_id=session.id)
        if Path(session.worktree_path).exists() or session.branch:
            await workspace.before_removal(self, session)
            removed = await gitops.remove_worktree(
                Path(session.repo_path),
                Path(session.worktree_path),
                session.branch,
                session_id=session.id,
                force=True,
                lock_timeout=self.config.git.lock_timeout,
                merged_tip=merged_tip,
            )
            kept = removed.archive
        await workspace.after_removal(self, session)
        return kept

    async def restore(self, ref: str) -> Any:
        """Bring back an archived session's worktree and branch exactly (or a worktree that was lost
        from under a live session, from its last checkpoint); the session becomes `idle`."""
        from . import safekeep

        return await safekeep.restore_session(self, await self.get(ref))
