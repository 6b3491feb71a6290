"""Telemetry SQL: usage aggregates, per-iteration tool statistics, export streams and retention.

Times are stored as UTC ISO text with milliseconds, so range filters compare text with text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from .core import StoreBase

UsageBy = Literal["model", "day", "repo"]

_GROUP_EXPR: dict[str, str] = {
    "model": "COALESCE(i.model, '(unknown)')",
    "day": "substr(i.started_at, 1, 10)",
    "repo": "s.repo_path",
}


def _range(alias: str, column: str, since: str | None, until: str | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if since:
        where.append(f"{alias}.{column} >= ?")
        params.append(since)
    if until:
        where.append(f"{alias}.{column} < ?")
        params.append(until)
    return where, params


class TelemetryRepo(StoreBase):
    async def usage(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        model: str | None = None,
        by: UsageBy | None = None,
    ) -> list[dict[str, Any]]:
        """Token and cost sums over iterations (started in [since, until)), optionally grouped.

        `cost_usd` sums only priced iterations; `unpriced` counts the others, so an unknown cost
        is never reported as 0 (lesson 22)."""
        where, params = _range("i", "started_at", since, until)
        if model:
            where.append("i.model = ?")
            params.append(model)
        key = _GROUP_EXPR[by] if by else "'all'"
        sql = (
            f"SELECT {key} AS key, COUNT(*) AS iterations, COUNT(DISTINCT i.session_id) AS sessions,"
            " COALESCE(SUM(i.input_tokens), 0) AS input_tokens,"
            " COALESCE(SUM(i.output_tokens), 0) AS output_tokens,"
            " COALESCE(SUM(i.cache_creation_tokens), 0) AS cache_creation_tokens,"
            " COALESCE(SUM(i.cache_read_tokens), 0) AS cache_read_tokens,"
            " SUM(i.cost_usd) AS cost_usd,"
            " SUM(CASE WHEN i.cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced"
            " FROM iterations i JOIN sessions s ON s.id = i.session_id"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        if by:
            sql += " GROUP BY key ORDER BY key"
        rows = await self._fetchall(sql, params)
        return [dict(r) for r in rows if r["iterations"]]

    async def tool_stats(self, session_id: str) -> list[dict[str, Any]]:
        """Per iteration and tool name: calls, failures and total/mean duration."""
        rows = await self._fetchall(
            "SELECT iteration_id, name, COUNT(*) AS calls,"
            " SUM(CASE WHEN ok = 0 THEN 1 ELSE 0 END) AS failed,"
            " SUM(duration_ms) AS total_ms, AVG(duration_ms) AS mean_ms"
            " FROM tool_calls WHERE session_id = ? GROUP BY iteration_id, name ORDER BY iteration_id, calls DESC, name",
            (session_id,),
        )
        return [dict(r) for r in rows]

    async def export_rows(
        self, table: Literal["sessions", "iterations", "tool_calls"], columns: Sequence[str], *, since: str | None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every row of `table` (created/started since `since`), only `columns`, in a stable order."""
        time_col = "created_at" if table == "sessions" else "started_at"
        order = "created_at, id" if table == "sessions" else "id"
        known = await self._columns(table)
        select = ", ".join(c if c in known else f"NULL AS {c}" for c in columns)
        sql = f"SELECT {select} FROM {table}"
        params: list[Any] = []
        if since:
            sql += f" WHERE {time_col} >= ?"
            params.append(since)
        sql += f" ORDER BY {order}"
        cur = await self.conn.execute(sql, params)
        while True:
            batch = await cur.fetchmany(500)
            if not batch:
                break
            for row in batch:
                yield dict(row)

    async def count_rows(self, table: Literal["sessions", "iterations", "tool_calls"]) -> int:
        row = await self._fetchone(f"SELECT COUNT(*) FROM {table}")
        return int(row[0]) if row else 0

    async def prune_detail(self, cutoff: str) -> tuple[int, list[str]]:
        """Delete tool calls started before `cutoff` and detach the raw stream logs of older
        iterations. Returns (tool calls deleted, raw log paths for the caller to delete).
        Per-iteration totals stay: usage over a long period remains correct."""
        async with self.transaction() as conn:
            cur = await conn.execute(
                "SELECT raw_log_path FROM iterations WHERE started_at < ? AND raw_log_path IS NOT NULL", (cutoff,)
            )
            paths = [str(r[0]) for r in await cur.fetchall()]
            await conn.execute("UPDATE iterations SET raw_log_path = NULL WHERE started_at < ?", (cutoff,))
            cur = await conn.execute("DELETE FROM tool_calls WHERE started_at < ?", (cutoff,))
            deleted = cur.rowcount or 0
        return deleted, paths
