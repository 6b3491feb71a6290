"""Aggregates for overviews (the TUI dashboard): one query each, never one query per session."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .core import StoreBase


class SessionTotals(BaseModel):
    iterations: int = 0
    tokens: int = 0  # input + output (the one meaning of "tokens" on every screen; cache apart)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_tokens: int = 0  # cache reads + writes
    running_since: str | None = None  # start of the running iteration, if one is running
    cost_usd: float | None = None  # None: no priced iteration yet (shown as unpriced, never $0)
    unpriced: int = 0  # iterations with tokens but no price


class BatchProgressRow(BaseModel):
    batch_id: str
    name: str
    status: str
    total: int = 0
    done: int = 0
    running: int = 0
    failed: int = 0


class OverviewRepo(StoreBase):
    async def session_totals(self) -> dict[str, SessionTotals]:
        rows = await self._fetchall(
            "SELECT session_id, COUNT(*) AS n,"
            " SUM(input_tokens) AS input, SUM(output_tokens) AS output,"
            " SUM(cache_creation_tokens + cache_read_tokens) AS cache,"
            " MAX(CASE WHEN status = 'running' THEN started_at END) AS running_since,"
            " SUM(cost_usd) AS cost,"
            " SUM(CASE WHEN cost_usd IS NULL AND input_tokens + output_tokens > 0 THEN 1 ELSE 0 END) AS unpriced"
            " FROM iterations GROUP BY session_id"
        )
        return {
            r["session_id"]: SessionTotals(
                iterations=int(r["n"] or 0),
                tokens=int(r["input"] or 0) + int(r["output"] or 0),
                input_tokens=int(r["input"] or 0),
                output_tokens=int(r["output"] or 0),
                cache_tokens=int(r["cache"] or 0),
                running_since=r["running_since"],
                cost_usd=float(r["cost"]) if r["cost"] is not None else None,
                unpriced=int(r["unpriced"] or 0),
            )
            for r in rows
        }

    async def change_fingerprint(self) -> tuple[Any, ...]:
        """A cheap summary that changes whenever sessions, iterations or batches change: the TUI's
        poll compares it besides `PRAGMA data_version`, so no commit of another process is missed."""
        row = await self._fetchone(
            "SELECT (SELECT COUNT(*) FROM sessions), (SELECT MAX(updated_at) FROM sessions),"
            " (SELECT MAX(id) FROM iterations), (SELECT COUNT(*) FROM batch_runs),"
            " (SELECT COUNT(ended_at) FROM batch_runs),"
            " (SELECT COUNT(started_at) + COUNT(ended_at) FROM batch_items)"
        )
        return tuple(row) if row is not None else ()

    async def cost_since(self, since_iso: str) -> tuple[float, int]:
        """(dollars of priced iterations started since `since_iso`, count of unpriced ones)."""
        row = await self._fetchone(
            "SELECT COALESCE(SUM(cost_usd), 0) AS cost,"
            " SUM(CASE WHEN cost_usd IS NULL AND input_tokens + output_tokens > 0 THEN 1 ELSE 0 END) AS unpriced"
            " FROM iterations WHERE started_at >= ?",
            (since_iso,),
        )
        if row is None:
            return 0.0, 0
        return float(row["cost"] or 0.0), int(row["unpriced"] or 0)

    async def active_batch_progress(self, *, include_finished_since: str | None = None) -> list[BatchProgressRow]:
        """Progress of running (and recently finished) batches, counted from their items."""
        where = "b.status IN ('pending', 'running')"
        params: list[str] = []
        if include_finished_since:
            where = f"({where} OR b.ended_at >= ?)"
            params.append(include_finished_since)
        rows = await self._fetchall(
            "SELECT b.id, b.name, b.status, COUNT(i.id) AS total,"
            " SUM(CASE WHEN i.status IN ('succeeded', 'failed', 'error', 'aborted') THEN 1 ELSE 0 END) AS done,"
            " SUM(CASE WHEN i.status = 'running' THEN 1 ELSE 0 END) AS running,"
            " SUM(CASE WHEN i.status IN ('failed', 'error') THEN 1 ELSE 0 END) AS failed"
            f" FROM batch_runs b LEFT JOIN batch_items i ON i.batch_id = b.id WHERE {where}"
            " GROUP BY b.id ORDER BY b.created_at DESC",
            params,
        )
        return [
            BatchProgressRow(
                batch_id=r["id"],
                name=r["name"],
                status=r["status"],
                total=int(r["total"] or 0),
                done=int(r["done"] or 0),
                running=int(r["running"] or 0),
                failed=int(r["failed"] or 0),
            )
            for r in rows
        ]
