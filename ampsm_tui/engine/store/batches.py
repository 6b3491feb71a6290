"""Batch runs and their items (items are identified by their own ids, lesson 17)."""

from __future__ import annotations

from typing import Any

from ..clock import now_iso
from ..models import BatchItem, BatchRun
from .core import StoreBase


class BatchesRepo(StoreBase):
    async def create_batch(self, run: BatchRun, items: list[BatchItem]) -> BatchRun:
        """The run and all its items in one transaction: never a half-written batch."""
        run = run.model_copy(update={"created_at": run.created_at or now_iso()})
        async with self.transaction() as conn:
            for table, obj in [("batch_runs", run), *(("batch_items", i) for i in items)]:
                data = await self._row(table, obj)
                await conn.execute(
                    f"INSERT INTO {table} ({', '.join(data)}) VALUES ({', '.join('?' for _ in data)})",
                    list(data.values()),
                )
        return run

    async def get_batch(self, batch_id: str) -> BatchRun | None:
        return self._model(BatchRun, await self._fetchone("SELECT * FROM batch_runs WHERE id = ?", (batch_id,)))

    async def list_batches(self, limit: int | None = None) -> list[BatchRun]:
        sql = "SELECT * FROM batch_runs ORDER BY created_at DESC, rowid DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._models(BatchRun, await self._fetchall(sql))

    async def update_batch(self, batch_id: str, **fields: Any) -> None:
        await self._update("batch_runs", "id", batch_id, fields)

    async def list_batch_items(self, batch_id: str) -> list[BatchItem]:
        rows = await self._fetchall("SELECT * FROM batch_items WHERE batch_id = ? ORDER BY ordinal", (batch_id,))
        return self._models(BatchItem, rows)

    async def get_batch_item(self, item_id: str) -> BatchItem | None:
        return self._model(BatchItem, await self._fetchone("SELECT * FROM batch_items WHERE id = ?", (item_id,)))

    async def update_batch_item(self, item_id: str, **fields: Any) -> None:
        await self._update("batch_items", "id", item_id, fields)
