"""Checkpoints during a long turn: the worktree snapshotted on a private ref every N seconds.

While an agent runs, `Checkpointer` snapshots the worktree (tracked changes and untracked files that
are not ignored, through a temporary index: nothing the agent sees changes) onto
`refs/ampsm/checkpoints/<session-id>`, whenever it differs from the last one. A crash mid-turn (even
`kill -9` of ampsm and the agent, or the worktree wiped) therefore loses at most one interval:
`ampsm restore ID` puts the last checkpoint back. The iteration's own commit supersedes it, and the
ref is deleted then.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import TracebackType

from .git.archive import CHECKPOINT_PREFIX, drop_checkpoint, session_ref_part, snapshot_state
from .git.runner import git, git_out

log = logging.getLogger(__name__)


def checkpoint_ref(session_id: str) -> str:
    return CHECKPOINT_PREFIX + session_ref_part(session_id)


async def take_checkpoint(worktree: Path, session_id: str) -> str | None:
    """Snapshot the worktree onto the session's checkpoint ref; returns the new sha, or None when
    nothing changed since HEAD or since the last checkpoint."""
    sha = await snapshot_state(worktree, "checkpoint", f"ampsm: checkpoint of session {session_id}")
    if sha is None:
        return None
    ref = checkpoint_ref(session_id)
    old = await git("rev-parse", "--verify", "--quiet", ref, cwd=worktree, check=False)
    if old.ok:
        same = await git_out(
            "rev-parse", f"{old.out}^{{tree}}", f"{sha}^{{tree}}", f"{old.out}^1", f"{sha}^1", cwd=worktree
        )
        a, b, pa, pb = same.split()
        if a == b and pa == pb:
            return None
    await git("update-ref", "-m", "ampsm: checkpoint", ref, sha, cwd=worktree)
    return sha


class Checkpointer:
    """`async with Checkpointer(worktree, session_id, interval)`: checkpoints every `interval`
    seconds until the block ends (0 disables). A failing snapshot is logged, never fatal: the turn
    matters more than its insurance."""

    def __init__(self, worktree: Path, session_id: str, interval: float) -> None:
        self.worktree = worktree
        self.session_id = session_id
        self.interval = interval
        self.taken = 0
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                if await take_checkpoint(self.worktree, self.session_id):
                    self.taken += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("session %s: checkpoint failed: %s", self.session_id, exc)

    async def __aenter__(self) -> Checkpointer:
        if self.interval > 0 and self.worktree.is_dir():
            self._task = asyncio.create_task(self._loop(), name=f"checkpoint {self.session_id}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])  # a cancel of our own caller still propagates
            self._task = None


async def supersede(worktree: Path, session_id: str) -> None:
    """The iteration committed its work: its checkpoints are no longer needed."""
    await drop_checkpoint(worktree, session_id)
