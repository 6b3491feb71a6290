"""The local executor: each item a session in this process (today's behaviour, the default)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine import Engine
    from ..models import BatchItem, BatchItemStatus


class LocalExecutor:
    name = "local"
    #: the session runner takes the agent slot itself: items are prepared and committed beside the
    #: running agents (`engine/slots.py`)
    pipelined = True

    def __init__(self, engine: Engine) -> None:
        from ..scheduler import engine_run_item

        self.engine = engine
        self._run = engine_run_item(engine)

    async def open(self, batch_id: str) -> None:
        return None

    async def run_item(self, item: BatchItem) -> BatchItemStatus:
        return await self._run(item)

    async def close(self) -> None:
        return None
