"""The repository lock: one file under the common `.git` dir, held with `flock` across processes.

Every operation that writes refs or worktrees runs inside `RepoLock`, so the TUI and any number of
headless commands on one repository are serialised. An iteration's commit touches only its own
worktree's index and its own branch (git locks each ref it updates), so it takes the lock `shared`:
commits in different worktrees run side by side, and every exclusive operation (worktree add and
remove, squash, rebase, merge) still waits for them and they for it. The kernel drops a `flock` when its holder dies,
so a lock file left by a dead process is simply taken over; the pid written in it is only there to
name the holder in a timeout message.
"""

from __future__ import annotations

import contextvars
import fcntl
import os
import time

from ..errors import AmpsmError, ErrorCode
from .repo import join, repo_paths
from .runner import pause

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from types import TracebackType

    from .runner import StrPath

LOCK_NAME = "ampsm.lock"
_POLL_S = 0.02
_MAX_POLL_S = 0.2

#: Locks held by the current task (and the tasks it starts), so a locked operation may call another.
_held: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("ampsm_repo_locks", default=frozenset())


class LockTimeout(AmpsmError):
    def __init__(self, lock_path: str, timeout: float, holder: str) -> None:
        self.lock_path = lock_path
        self.holder = holder
        super().__init__(
            ErrorCode.GIT,
            f"repository is locked by {holder} (lock {lock_path}); gave up after {timeout:g}s",
        )


def read_holder(lock_path: StrPath) -> str:
    """`pid 1234 (ampsm ...)` from the lock file, or `an unknown process`."""
    try:
        with open(lock_path, encoding="utf-8", errors="replace") as fh:
            text = fh.read().strip()
    except OSError:
        return "an unknown process"
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    pid = fields.get("pid")
    if not pid:
        return "an unknown process"
    from ..procinfo import pid_alive

    alive = pid_alive(int(pid)) if pid.isdigit() else False
    what = fields.get("cmd", "")
    return f"pid {pid}" + (f" ({what})" if what else "") + ("" if alive else " (not running)")


class RepoLock:
    """`async with RepoLock(repo, timeout=60):` — re-entrant within one task."""

    def __init__(self, repo: StrPath, timeout: float = 60.0, *, purpose: str = "", shared: bool = False) -> None:
        self.repo = repo
        self.timeout = timeout
        self.purpose = purpose
        self.shared = shared
        self.path: str | None = None
        self._fd: int | None = None
        self._token: contextvars.Token[frozenset[str]] | None = None

    async def __aenter__(self) -> RepoLock:
        paths = await repo_paths(self.repo)
        self.path = key = join(paths.common_dir, LOCK_NAME)
        if key in _held.get():
            return self  # already ours: nested operation
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + self.timeout
        delay = _POLL_S
        try:
            while True:
                try:
                    fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockTimeout(self.path, self.timeout, read_holder(self.path)) from None
                    await pause(delay)
                    delay = min(delay * 1.5, _MAX_POLL_S)
            if not self.shared:  # the holder named in a timeout message is the exclusive one
                stamp = f"pid={os.getpid()} since={time.time():.3f} cmd={(self.purpose or 'ampsm').replace(' ', '_')}\n"
                os.ftruncate(fd, 0)
                os.pwrite(fd, stamp.encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._token = _held.set(_held.get() | {key})
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is None:
            return
        try:
            if not self.shared:
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None
            if self._token is not None:
                try:
                    _held.reset(self._token)
                except ValueError:  # exited in another context than entered
                    _held.set(_held.get() - {self.path or ""})
                self._token = None
