"""How asyncio learns that a child process ended.

Python 3.11's default (ThreadedChildWatcher) starts a thread per subprocess and waits on the event
loop's thread until it runs: with ~14 git processes per batch item on a loaded machine, a stall
the whole loop pays for. Linux ≥ 5.3 has pidfds: the loop polls the child's pidfd like a socket,
no thread at all. Python ≥ 3.12 does exactly that by itself; on 3.11 we install the same watcher
(3.11's own PidfdChildWatcher is bound to one loop, which breaks every other loop: tests, threads).
Where pidfd_open is missing or refused (old kernel, seccomp), the default stays.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def pidfd_usable() -> bool:
    """pidfd_open exists and the kernel accepts it for this process."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return False
    try:
        fd = opener(os.getpid())
    except OSError:
        return False
    os.close(fd)
    return True


class LoopPidfdWatcher(asyncio.AbstractChildWatcher):  # type: ignore[misc,unused-ignore]
    """Python 3.12's pidfd watcher: each child is watched by the loop that started it (the running
    loop when the handler is added), so one instance serves every loop of the process."""

    def __init__(self) -> None:
        self._watched: dict[int, tuple[asyncio.AbstractEventLoop, int]] = {}

    def add_child_handler(self, pid: int, callback: Callable[..., object], *args: Any) -> None:  # type: ignore[override]
        loop = asyncio.get_running_loop()
        pidfd = os.pidfd_open(pid)
        self._watched[pid] = (loop, pidfd)
        loop._add_reader(pidfd, self._do_wait, pid, pidfd, callback, args)  # type: ignore[attr-defined]

    def _do_wait(self, pid: int, pidfd: int, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        loop, _ = self._watched.pop(pid, (asyncio.get_running_loop(), pidfd))
        loop._remove_reader(pidfd)  # type: ignore[attr-defined]
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped elsewhere: what asyncio itself reports then
            returncode = 255
            log.warning("child process pid %d exit status already read: will report returncode 255", pid)
        else:
            returncode = os.waitstatus_to_exitcode(status)
        os.close(pidfd)
        callback(pid, returncode, *args)

    def remove_child_handler(self, pid: int) -> bool:
        watched = self._watched.pop(pid, None)
        if watched is None:
            return False
        loop, pidfd = watched
        loop._remove_reader(pidfd)  # type: ignore[attr-defined]
        os.close(pidfd)
        return True

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        pass  # not bound to a loop

    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def __enter__(self) -> LoopPidfdWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def use_pidfd_watcher() -> bool:
    """Install the pidfd watcher on Python 3.11 when pidfds work; True when it is in use."""
    if sys.version_info >= (3, 12) or sys.platform != "linux":
        return False  # 3.12+ uses pidfds without being asked; other systems keep their default
    policy = asyncio.get_event_loop_policy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            current = policy.get_child_watcher()  # type: ignore[attr-defined,unused-ignore]
        except (AttributeError, NotImplementedError):  # a policy without watchers (uvloop)
            return False
        if isinstance(current, LoopPidfdWatcher):
            return True
        if not isinstance(current, asyncio.ThreadedChildWatcher) or not pidfd_usable():
            return False  # someone chose another watcher: theirs stays
        policy.set_child_watcher(LoopPidfdWatcher())  # type: ignore[attr-defined,unused-ignore]
    return True
