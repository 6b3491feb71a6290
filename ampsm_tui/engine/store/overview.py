"""Aggregates for overviews (the TUI dashboard): one query each, never one query per session."""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel

from ..models import SessionStatus
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


class SessionListItem(NamedTuple):
    """The columns of a session that the TUI's list shows, filters and sorts on: a plain tuple, since
    the dashboard builds one per session on every reload (10,000 pydantic `Session` models took longer
    than the rest of the reload; a frozen dataclass costs 4x a tuple)."""

    id: str
    name: str
    repo_path: str
    branch: str
    agent: str
    status: SessionStatus
    created_at: str
    updated_at: str
    last_test_exit: int | None = None
    last_error: str | None = None
    base_branch: str = ""  # these two for the overlap marks (`engine.overlap`)
    worktree_path: str = ""


class RowTotals(NamedTuple):
    """`SessionTotals` as a plain object (same fields, same meanings), for the list's rows."""

    iterations: int = 0
    tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_tokens: int = 0
    running_since: str | None = None
    cost_usd: float | None = None
    unpriced: int = 0


_STATUSES = {s.value: s for s in SessionStatus}
_NO_TOTALS = RowTotals()


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

    async def list_session_rows(self) -> list[tuple[SessionListItem, RowTotals]]:
        """Every session, newest first, with its totals: one query, plain objects (the dashboard's
        reload). The totals mean what `session_totals` says."""
        rows = await self._fetchall(
            "SELECT s.id, s.name, s.repo_path, s.branch, s.agent, s.status, s.created_at, s.updated_at,"
            " s.last_test_exit, s.last_error, s.base_branch, s.worktree_path,"
            " t.n, t.input, t.output, t.cache, t.running_since, t.cost, t.unpriced"
            " FROM sessions s LEFT JOIN ("
            "  SELECT session_id, COUNT(*) AS n, SUM(input_tokens) AS input, SUM(output_tokens) AS output,"
            "  SUM(cache_creation_tokens + cache_read_tokens) AS cache,"
            "  MAX(CASE WHEN status = 'running' THEN started_at END) AS running_since, SUM(cost_usd) AS cost,"
            "  SUM(CASE WHEN cost_usd IS NULL AND input_tokens + output_tokens > 0 THEN 1 ELSE 0 END) AS unpriced"
            "  FROM iterations GROUP BY session_id"
            " ) t ON t.session_id = s.id"
            " ORDER BY s.created_at DESC, s.rowid DESC"
        )
        out: list[tuple[SessionListItem, RowTotals]] = []
        for r in rows:
            status = _STATUSES.get(r[5]) or SessionStatus(r[5])
            item = SessionListItem(
                r[0], r[1], r[2], r[3] or "", r[4], status, r[6], r[7], r[8], r[9], r[10] or "", r[11] or ""
            )
            if r[12] is None:
                totals = _NO_TOTALS
            else:
                inp, outp = int(r[13] or 0), int(r[14] or 0)
                cost = float(r[17]) if r[17] is not None else None
                totals = RowTotals(int(r[12]), inp + outp, inp, outp, int(r[15] or 0), r[16], cost, int(r[18] or 0))
            out.append((item, totals))
        return out

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

    async def change_state(self) -> tuple[Any, ...]:
        """`PRAGMA data_version` and `change_fingerprint` in one statement: the TUI's change check runs
        after every write of another process, and each statement is a few hops to the DB thread."""
        rows = await self._fetchall(  # (one trip to the DB thread, see `_fetchall`)
            "SELECT (SELECT data_version FROM pragma_data_version()),"
            " (SELECT COUNT(*) FROM sessions), (SELECT MAX(updated_at) FROM sessions),"
            " (SELECT MAX(id) FROM iterations), (SELECT COUNT(*) FROM batch_runs),"
            " (SELECT COUNT(ended_at) FROM batch_runs),"
            " (SELECT COUNT(started_at) + COUNT(ended_at) FROM batch_items)"
        )
        return tuple(rows[0]) if rows else ()

    async def cost_since(self, since_iso: str) -> tuple[float, int]:
        """(dollars of priced iterations started since `since_iso`, count of unpriced ones)."""
        rows = await self._fetchall(
            "SELECT COALESCE(SUM(cost_usd), 0) AS cost,"
            " SUM(CASE WHEN cost_usd IS NULL AND input_tokens + output_tokens > 0 THEN 1 ELSE 0 END) AS unpriced"
            " FROM iterations WHERE started_at >= ?",
            (since_iso,),
        )
        if not rows:
            return 0.0, 0
        row = rows[0]
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
