"""Where a batch's items run: an executor turns one item into a finished session.

The scheduler (`engine/scheduler.py`) decides what runs when; an executor decides where. `local`
(the default) runs the session in this process; `ray` runs it as a task on a Ray cluster and brings
the branch and the rows back, so the driver alone writes the DB. `ray` is imported only when chosen:
the headless CLI never pays for it otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..errors import UsageError

if TYPE_CHECKING:
    from ..engine import Engine
    from ..models import BatchItem, BatchItemStatus

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    name: str

    async def open(self, batch_id: str) -> None:
        """Get ready to run the batch's items (join the cluster); E005 when it cannot."""

    async def run_item(self, item: BatchItem) -> BatchItemStatus:
        """Run one item to its end (the scheduler's `run_item`): raise `ItemFailed` for a failure."""

    async def close(self) -> None:
        """Release what `open` took; items still running have been cancelled by then."""


def executor_for(engine: Engine, name: str | None = None, address: str | None = None) -> Executor:
    """The executor `name` (default: the config's `batch.executor`); `address` is the Ray cluster's."""
    chosen = name or engine.config.batch.executor
    if chosen == "local":
        if address:
            raise UsageError("--address is for --executor ray")
        from .local import LocalExecutor

        return LocalExecutor(engine)
    if chosen == "ray":
        from .ray import RayExecutor

        return RayExecutor(engine, address or engine.config.ray.address)
    raise UsageError(f"unknown executor {chosen!r} (choose from {', '.join(EXECUTORS)})")
