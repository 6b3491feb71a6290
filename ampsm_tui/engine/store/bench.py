"""Benchmark runs and their per-instance rows (migration 4)."""

from __future__ import annotations

from typing import Any

from ..bench.models import BenchInstance, BenchRun
from ..clock import now_iso
from .core import StoreBase


class BenchRepo(StoreBase):
    async def create_bench_run(self, run: BenchRun) -> BenchRun:
        run = run.model_copy(update={"created_at": run.created_at or now_iso()})
        await self._insert_model("bench_runs", run)
        return run

    async def get_bench_run(self, run_id: str) -> BenchRun | None:
        return self._model(BenchRun, await self._fetchone("SELECT * FROM bench_runs WHERE id = ?", (run_id,)))

    async def list_bench_runs(self, limit: int | None = None) -> list[BenchRun]:
        sql = "SELECT * FROM bench_runs ORDER BY created_at DESC, rowid DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._models(BenchRun, await self._fetchall(sql))

    async def update_bench_run(self, run_id: str, **fields: Any) -> None:
        await self._update("bench_runs", "id", run_id, fields)

    async def add_bench_instances(self, rows: list[BenchInstance]) -> int:
        """Rows not yet in the run (by run, model and instance id); one transaction. Returns how
        many were new, so a resumed run keeps every row it already has."""
        added = 0
        async with self.transaction() as conn:
            for row in rows:
                data = await self._row("bench_instances", row, exclude={"id"})
                cur = await conn.execute(
                    f"INSERT OR IGNORE INTO bench_instances ({', '.join(data)})"
                    f" VALUES ({', '.join('?' for _ in data)})",
                    list(data.values()),
                )
                added += cur.rowcount or 0
        return added

    async def list_bench_instances(self, run_id: str, model_name_or_path: str | None = None) -> list[BenchInstance]:
        sql = "SELECT * FROM bench_instances WHERE run_id = ?"
        params: list[Any] = [run_id]
        if model_name_or_path is not None:
            sql += " AND model_name_or_path = ?"
            params.append(model_name_or_path)
        sql += " ORDER BY ordinal, model_name_or_path"
        return self._models(BenchInstance, await self._fetchall(sql, params))

    async def get_bench_instance(self, row_id: int) -> BenchInstance | None:
        row = await self._fetchone("SELECT * FROM bench_instances WHERE id = ?", (row_id,))
        return self._model(BenchInstance, row)

    async def update_bench_instance(self, row_id: int, **fields: Any) -> None:
        await self._update("bench_instances", "id", row_id, fields)

    async def bench_run_cost(self, run_id: str) -> float:
        row = await self._fetchone("SELECT COALESCE(SUM(cost_usd), 0) FROM bench_instances WHERE run_id = ?", (run_id,))
        return float(row[0]) if row else 0.0
