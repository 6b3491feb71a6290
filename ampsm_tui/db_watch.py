"""Other processes' changes to the database, noticed within a few hundred milliseconds, for good.

Two loops feed one check: a file watch (`watchfiles`) on the DB and its WAL, which wakes as soon as
another process commits, and a slow poll that catches whatever the watch cannot see (a network file
system, a watch that failed to start). Each loop restarts itself after any error, so one bad moment
(a busy DB, a closed connection being reopened, a watcher thread dying) never ends live refresh.

The check compares `PRAGMA data_version` and a cheap fingerprint of the data (counts, newest update):
the counter alone misses commits while any statement of our connection holds a read snapshot.
Checks never overlap (one lock), and a burst of commits is one `on_change` call per check.

Plain asyncio tasks, not Textual workers: they never end on their own, and the tests wait for workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine.store import Store

log = logging.getLogger(__name__)

#: After an error, a loop waits this long (doubling up to RESTART_MAX_S) before it starts again.
RESTART_MIN_S = 0.2
RESTART_MAX_S = 5.0
#: The watch batches file events this long before one check (small: the target is 300 ms end to end).
DEBOUNCE_MS = 40
STEP_MS = 20


class DbWatch:
    def __init__(
        self,
        store: Store,
        db_path: Path,
        on_change: Callable[[], None],
        *,
        poll_interval: float = 2.0,
        use_watch: bool = True,
    ) -> None:
        self.store = store
        self.db_path = db_path
        self.on_change = on_change
        self.poll_interval = poll_interval
        self.use_watch = use_watch
        self.checks = 0
        self.changes = 0
        self.restarts = 0  # how many times a loop came back after an error (for tests and the bench)
        self._state: tuple[Any, ...] | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def baseline(self) -> None:
        """Read the current state, so the first check after the first load sees what changed since."""
        self._state = await self._read()

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._forever(self._poll_once, "poll"), name="ampsm-db-poll"))
        if self.use_watch:
            self._tasks.append(asyncio.create_task(self._forever(self._watch_once, "watch"), name="ampsm-db-watch"))

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    @property
    def running(self) -> bool:
        return any(not t.done() for t in self._tasks)

    async def _read(self) -> tuple[Any, ...]:
        return await self.store.change_state()  # data_version and the fingerprint, one statement

    async def check(self) -> bool:
        """One comparison with the last state; `on_change` when it moved. Never overlaps another."""
        async with self._lock:
            self.checks += 1
            state = await self._read()
            if state == self._state:
                return False
            self._state = state
            self.changes += 1
        self.on_change()
        return True

    async def _forever(self, body: Callable[[], Any], what: str) -> None:
        delay = RESTART_MIN_S
        while not self._stop.is_set():
            try:
                await body()
                delay = RESTART_MIN_S
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # anything: the loop comes back (defect 1 of issue 16)
                if self._stop.is_set():
                    return
                self.restarts += 1
                log.warning("DB %s failed (%s: %s); restarting in %.1fs", what, type(exc).__name__, exc, delay)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, RESTART_MAX_S)

    async def _poll_once(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self.poll_interval)
        if not self._stop.is_set():
            await self.check()

    async def _watch_once(self) -> None:
        """Watch the DB's directory (not recursive) until stopped, checking after each batch of writes
        to the DB or its WAL; returns (to be restarted) if the watcher ends."""
        from watchfiles import awatch

        await self.check()  # a (re)start first catches up with whatever changed while it was down
        names = {self.db_path.name, f"{self.db_path.name}-wal", f"{self.db_path.name}-journal"}

        def relevant(_change: Any, path: str) -> bool:
            return Path(path).name in names

        async for _changes in awatch(
            self.db_path.parent,
            watch_filter=relevant,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=self._stop,
            recursive=False,
        ):
            await self.check()
