"""The merge queue: sessions land one at a time onto the up-to-date base, never two at once.

Why: parallel sessions of one repo that each pass their tests alone can still break the base
together, or conflict. The queue lands them in order through `ReviewService.land` (squash, rebase
onto the base *as the previous entry left it*, re-run the test gate on that merged tree, merge), so
the base only moves when the merged tree is green. A conflict or a red gate takes that session out:
its land is aborted (the branch tip restored, the session untouched, the reason kept) and the queue
goes on with the next entry.

The queue is a small JSON file beside the config (`merge-queue.json`) so that `queue add` in one
shell and `queue status` in another agree; every read-modify-write holds an flock, and one process
at a time runs the queue (a second `queue run` finds it busy and leaves the entries to the runner).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from .clock import now_iso
from .errors import AmpsmError, UsageError
from .models import Session, SessionStatus, new_id

if TYPE_CHECKING:
    from .engine import Engine
    from .review import LandResult

EntryStatus = Literal["queued", "landing", "landed", "removed"]


class QueueEntry(BaseModel):
    id: str
    session_id: str
    repo_path: str
    base_branch: str
    branch: str | None = None
    status: EntryStatus = "queued"
    reason: str | None = None  # why a removed entry was taken out (conflict files, failing test)
    sha: str | None = None  # the base tip once landed
    branch_tip: str | None = None  # a removed entry's branch tip (the one it had when queued)
    added_at: str = ""
    ended_at: str | None = None


class _File(BaseModel):
    entries: list[QueueEntry] = []


class MergeQueue:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        folder = engine.config.config_dir
        self.path = folder / "merge-queue.json"
        self._lock_path = folder / "merge-queue.lock"
        self._run_lock_path = folder / "merge-queue.run.lock"

    # -- the file -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[_File]:
        """Read, let the caller change, write back: all under one exclusive flock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._read()
            yield data
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data.model_dump(mode="json"), indent=2), encoding="utf-8")
            os.replace(tmp, self.path)

    def _read(self) -> _File:
        try:
            return _File.model_validate_json(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _File()

    def entries(self) -> list[QueueEntry]:
        return list(self._read().entries)

    def _update(self, entry_id: str, **fields: object) -> QueueEntry:
        with self._locked() as data:
            for index, entry in enumerate(data.entries):
                if entry.id == entry_id:
                    data.entries[index] = entry.model_copy(update=fields)
                    return data.entries[index]
        raise UsageError(f"no queue entry {entry_id}")

    # -- add ------------------------------------------------------------------------------------

    async def add(self, refs: list[str]) -> list[QueueEntry]:
        """Queue sessions in the order given; each must be landable (not running, done or archived)
        and not queued already."""
        sessions: list[Session] = []
        for ref in refs:
            session = await self.engine.sessions.get(ref)
            if session.status in (SessionStatus.DONE, SessionStatus.ARCHIVED):
                raise UsageError(f"session {session.id} is {session.status}; only live sessions can be queued")
            if any(s.id == session.id for s in sessions):
                raise UsageError(f"session {session.id} is named twice")
            sessions.append(session)
        added: list[QueueEntry] = []
        with self._locked() as data:
            waiting = {e.session_id for e in data.entries if e.status in ("queued", "landing")}
            for session in sessions:
                if session.id in waiting:
                    raise UsageError(f"session {session.id} is already in the queue")
            for session in sessions:
                entry = QueueEntry(
                    id=new_id("q"),
                    session_id=session.id,
                    repo_path=session.repo_path,
                    base_branch=session.base_branch,
                    branch=session.branch,
                    added_at=now_iso(),
                )
                data.entries.append(entry)
                added.append(entry)
        return added

    # -- run ------------------------------------------------------------------------------------

    async def run(self) -> list[QueueEntry] | None:
        """Land every queued entry, one at a time, until none is left (entries added meanwhile,
        by any process, are taken too). None when another process is running the queue."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._run_lock_path, "a+") as run_lock:
            try:
                fcntl.flock(run_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            with self._locked() as data:  # a runner that was killed mid-land: its entry is retried
                for index, entry in enumerate(data.entries):
                    if entry.status == "landing":
                        data.entries[index] = entry.model_copy(update={"status": "queued"})
            done: list[QueueEntry] = []
            while (claimed := self._claim_next()) is not None:
                done.append(await self._land(claimed))
            return done

    def _claim_next(self) -> QueueEntry | None:
        with self._locked() as data:
            for index, entry in enumerate(data.entries):
                if entry.status == "queued":
                    data.entries[index] = entry.model_copy(update={"status": "landing"})
                    return data.entries[index]
        return None

    async def _land(self, entry: QueueEntry) -> QueueEntry:
        review = self.engine.review
        tip: str | None = None
        try:
            tip = await self.engine.sessions.head(entry.session_id)
            result = await review.land(entry.session_id)
        except (AmpsmError, UsageError) as exc:
            reason = exc.one_line() if isinstance(exc, AmpsmError) else exc.message
            with contextlib.suppress(AmpsmError, UsageError):
                if await review.stopped(entry.session_id):
                    await review.abort(entry.session_id)
            return self._update(entry.id, status="removed", reason=reason, branch_tip=tip, ended_at=now_iso())
        if result.landed:
            from .bestof import archive_the_others

            await archive_the_others(self.engine, entry.session_id)  # a best-of winner: as `ampsm land`
            return self._update(entry.id, status="landed", sha=result.sha, reason=None, ended_at=now_iso())
        reason = _why(result)
        if result.stopped:  # put the session back as it was: the queue never leaves a half-land
            await result.abort()
        after = await self.engine.sessions.head(entry.session_id)
        return self._update(entry.id, status="removed", reason=reason, branch_tip=after, ended_at=now_iso())

    def clear_finished(self) -> int:
        """Forget landed and removed entries (the queue's history); returns how many."""
        with self._locked() as data:
            before = len(data.entries)
            data.entries = [e for e in data.entries if e.status in ("queued", "landing")]
            return before - len(data.entries)


def _why(result: LandResult) -> str:
    if result.conflict is not None:
        return f"conflict: {result.conflict.operation} conflicts in {', '.join(result.conflict.files)}"
    if result.status == "tests-failed":
        return f"red gate on the merged tree: {result.message}"
    return result.message or str(result.status)


__all__ = ["EntryStatus", "MergeQueue", "QueueEntry"]
