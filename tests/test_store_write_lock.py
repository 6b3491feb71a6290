"""The store's write lock: one writer at a time, first come first served, except that a task an
agent waits on (`urgent_writes`, set while it holds a batch's agent slot) goes first. Waiters are
released by conditions (events, the lock's own hand-over), never by durations."""

from __future__ import annotations

import asyncio
import contextvars

from ampsm_tui.engine.slots import ItemSlot, Pipeline
from ampsm_tui.engine.store.core import WriteLock, urgent_writes


async def _queue(lock: WriteLock, name: str, got: list[str], *, urgent: bool = False) -> asyncio.Task[None]:
    """Start a task that waits for the lock, records its turn and releases it; returns once it waits."""

    async def write() -> None:
        urgent_writes.set(urgent)
        async with lock:
            got.append(name)

    waiting = len(lock._urgent) + len(lock._normal)
    task = asyncio.create_task(write(), context=contextvars.Context())
    while len(lock._urgent) + len(lock._normal) == waiting:  # until it is in line
        await asyncio.sleep(0)
    return task


async def test_an_urgent_writer_goes_before_the_writers_already_waiting() -> None:
    lock, got = WriteLock(), []
    await lock.acquire()
    tasks = [await _queue(lock, f"n{i}", got) for i in range(3)]
    tasks.append(await _queue(lock, "urgent", got, urgent=True))
    tasks.append(await _queue(lock, "n3", got))
    lock.release()
    await asyncio.gather(*tasks)
    assert got == ["urgent", "n0", "n1", "n2", "n3"]
    assert not lock.locked()


async def test_a_waiter_cancelled_after_being_handed_the_lock_passes_it_on_and_never_to_two() -> None:
    lock, got = WriteLock(), []
    await lock.acquire()
    first = await _queue(lock, "first", got)
    second = await _queue(lock, "second", got)
    third = await _queue(lock, "third", got)
    lock.release()  # handed to `first`, which has not run yet
    first.cancel()
    second.cancel()  # a plain waiter leaving at the same moment must not hand it out a second time
    await asyncio.gather(first, second, return_exceptions=True)
    await asyncio.wait_for(third, 30)
    assert got == ["third"] and not lock.locked()
    await asyncio.wait_for(lock.acquire(), 30)  # free again: taken at once
    lock.release()


async def test_many_writers_with_cancellations_never_overlap_and_never_hang() -> None:
    lock, inside, done = WriteLock(), [0], [0]

    async def writer(n: int) -> None:
        urgent_writes.set(n % 3 == 0)
        for _ in range(50):
            async with lock:
                inside[0] += 1
                try:
                    assert inside[0] == 1
                    await asyncio.sleep(0)  # a cancel may land here, inside: the lock is released all the same
                finally:
                    inside[0] -= 1
                done[0] += 1

    tasks = [asyncio.create_task(writer(n), context=contextvars.Context()) for n in range(30)]
    for task in tasks[::4]:
        await asyncio.sleep(0)
        task.cancel()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    assert not [r for r in results if r is not None and not isinstance(r, asyncio.CancelledError)]
    assert done[0] > 0 and not lock.locked() and lock._handed is None


async def test_an_item_holding_its_agent_slot_writes_urgently_and_only_then() -> None:
    async def item() -> list[bool]:
        slot = ItemSlot(Pipeline(1))
        marks = [urgent_writes.get()]
        await slot.take_ahead()
        marks.append(urgent_writes.get())  # being prepared: not urgent
        await slot.take_agent()
        marks.append(urgent_writes.get())  # its agent waits on its writes
        await slot.agent_done()
        marks.append(urgent_writes.get())  # committing, testing: not urgent
        slot.release()
        return marks

    assert await asyncio.create_task(item(), context=contextvars.Context()) == [False, False, True, False]
