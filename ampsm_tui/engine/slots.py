"""Agent slots: a batch limits how many *agents* run at once, not how many items are being handled.

Without them a batch slot is held for an item's whole life: making its worktree and session row,
the checks before the agent, the agent, then the commit, the test gate and the status. Only the
agent is the scarce resource (its rate limit, its cost), so a pipelined batch (`BatchScheduler(...,
pipelined=True)`) holds a slot only around the agent itself and does the rest beside the agents:

- `ahead`: items picked up and being prepared, or prepared and waiting for an agent slot
  (at most C: a bounded number of worktrees made before their agent can start);
- `agents`: agents running (at most C, the batch's concurrency);
- `after`: items committing and running their test gate after their agent ended (at most C).

An item holds one of them at a time and moves strictly ahead → agents → after, waiting for the next
while it holds the previous, so the three bounds hold together and no cycle can deadlock. While an
item holds an agent slot its store writes go before the others' (`store.core.urgent_writes`): the
agent waits on them.

The runner takes its turn through `agent_turn()`: outside a pipelined batch (a single `ampsm
iterate`, the TUI, a plain scheduler) there is no `ItemSlot` in the context and it is a no-op.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from .store.core import urgent_writes


class NotStarted(Exception):
    """Raised when an item's agent may not start after all (a budget reached while it was prepared)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Pipeline:
    """The three bounds of a pipelined batch, each `concurrency` wide."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.ahead = asyncio.Semaphore(concurrency)
        self.agents = asyncio.Semaphore(concurrency)
        self.after = asyncio.Semaphore(concurrency)


class ItemSlot:
    """One item's place in a `Pipeline`. `on_start` runs once, when the item's first agent slot is
    taken (the scheduler marks the item running there, and may refuse with `NotStarted`)."""

    def __init__(self, pipeline: Pipeline, on_start: Callable[[], Awaitable[None]] | None = None) -> None:
        self.pipeline = pipeline
        self.on_start = on_start
        self.started = False
        self._ahead = False
        self._agent = False
        self._after = False

    async def take_ahead(self) -> None:
        """Before the item is prepared: wait until fewer than C items are ahead of their agent."""
        if not self._ahead:
            await self.pipeline.ahead.acquire()
            self._ahead = True

    async def take_agent(self) -> None:
        """Wait for an agent slot (and give back the `ahead` place the item held while waiting)."""
        await self.pipeline.agents.acquire()
        self._agent = True
        self._release_ahead()
        urgent_writes.set(True)  # the agent waits on this task's next writes: they go first
        if not self.started:
            self.started = True
            try:
                if self.on_start is not None:
                    await self.on_start()
            except BaseException:
                self.release()
                raise

    async def agent_done(self) -> None:
        """The agent ended: take an `after` place, then free the agent slot. The agent slot is freed
        even when this wait is cancelled."""
        if not self._agent:
            return
        try:
            await self.pipeline.after.acquire()
            self._after = True
        finally:
            self._release_agent()

    def _release_ahead(self) -> None:
        if self._ahead:
            self._ahead = False
            self.pipeline.ahead.release()

    def _release_agent(self) -> None:
        if self._agent:
            self._agent = False
            self.pipeline.agents.release()
            urgent_writes.set(False)

    def release(self) -> None:
        """Give back whatever is held (idempotent): at the end of a turn, and of the item."""
        self._release_ahead()
        self._release_agent()
        if self._after:
            self._after = False
            self.pipeline.after.release()


#: The slot of the batch item the current task runs (set by a pipelined scheduler, per item task).
current_slot: contextvars.ContextVar[ItemSlot | None] = contextvars.ContextVar("ampsm_item_slot", default=None)


class Turn:
    """What `agent_turn()` yields: `agent_done()` when the agent has ended."""

    def __init__(self, slot: ItemSlot | None) -> None:
        self.slot = slot

    async def agent_done(self) -> None:
        if self.slot is not None:
            await self.slot.agent_done()


@asynccontextmanager
async def agent_turn() -> AsyncIterator[Turn]:
    """Around one agent turn: in a pipelined batch, wait for an agent slot first and give back
    whatever the turn still holds at its end; elsewhere nothing."""
    slot = current_slot.get()
    if slot is None:
        yield Turn(None)
        return
    await slot.take_agent()
    try:
        yield Turn(slot)
    finally:
        slot.release()
