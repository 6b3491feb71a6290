"""An iteration's tool calls, written to the DB in batches.

One INSERT and one UPDATE per tool call cost a thread hop and a transaction each: at an agent's
full speed (thousands of tool calls in a long turn) that was most of the streaming time. Calls are
gathered and written together, a quarter second after the first one waits at the latest (so other
processes still see them live), and always before the iteration's outcome is recorded. A call that
finishes before it was written is written finished: one INSERT, no UPDATE; one still open when written
is updated later by its row id (a lookup by iteration and tool id scanned all the iteration's calls,
quadratic in a long turn). A waiting call is a plain
row (a list), not a model: building, updating and dumping a pydantic model per call cost more than
its INSERT.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from .clock import now_iso

if TYPE_CHECKING:
    from .agents.base import ToolCallEvent, ToolResultEvent
    from .store import Store

FLUSH_AFTER_S = 0.25
FLUSH_AT = 256


class ToolCallRecorder:
    def __init__(self, store: Store, *, iteration_id: int, session_id: str) -> None:
        self.store = store
        self.iteration_id = iteration_id
        self.session_id = session_id
        #: [tool_use_id, name, args_summary, started_at, duration_ms, ok]: the rows `record_tool_calls` takes
        self._inserts: list[list[Any]] = []
        self._unwritten: dict[str, list[Any]] = {}  # tool_use_id -> a call not yet written
        self._open: dict[str, float] = {}  # tool_use_id -> when it started (monotonic)
        self._finishes: list[tuple[int | None, bool | None, str]] = []  # (duration_ms, ok, tool_use_id)
        self._rowids: dict[str, int] = {}  # tool_use_id -> the row of a call written while open
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._stamp: tuple[float, str] | None = None

    def _now(self) -> str:
        """One timestamp per millisecond (its resolution): the calls of one chunk of the agent's
        output arrived together, and each `now_iso` reads the clock and formats a date."""
        tick = time.monotonic()
        if self._stamp is None or tick - self._stamp[0] >= 0.001:
            self._stamp = (tick, now_iso())
        return self._stamp[1]

    async def started(self, event: ToolCallEvent) -> None:
        call = [event.id, event.name, event.input_summary, self._now(), None, None]
        self._inserts.append(call)
        if event.id:  # a call without an id cannot be matched with its result
            self._unwritten[event.id] = call
            self._open[event.id] = time.monotonic()
        await self._soon()

    async def finished(self, event: ToolResultEvent) -> None:
        t0 = self._open.pop(event.id or "", None)
        if t0 is None or not event.id:
            return
        duration = event.duration_ms if event.duration_ms is not None else int((time.monotonic() - t0) * 1000)
        call = self._unwritten.pop(event.id, None)
        if call is not None:
            call[4], call[5] = duration, event.ok
        else:
            self._finishes.append((duration, event.ok, event.id))
        await self._soon()

    def _pending(self) -> int:
        return len(self._inserts) + len(self._finishes)

    async def _soon(self) -> None:
        if self._pending() >= FLUSH_AT:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_AFTER_S, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._flushing = asyncio.ensure_future(self.flush())

    async def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._lock:
            inserts, finishes = self._inserts, self._finishes
            if not inserts and not finishes:
                return
            self._inserts, self._finishes = [], []
            self._unwritten.clear()  # written from here on: a later result is an UPDATE
            rowids = self._rowids
            updates = [(duration, ok, rowids.pop(tid, None), tid) for duration, ok, tid in finishes]
            rowids.update(await self.store.record_tool_calls(self.iteration_id, self.session_id, inserts, updates))

    async def close(self) -> None:
        """Write what is left (the iteration is about to be recorded)."""
        if self._flushing is not None and not self._flushing.done():
            await asyncio.shield(self._flushing)
        await self.flush()
