"""What the batch scheduler needs beyond plain rows: ownership, resume bookkeeping, item totals."""

from __future__ import annotations

from typing import Any

from ..clock import now_iso
from ..models import BatchItemStatus, Session
from .core import StoreBase

#: Items that ran to the end; everything else is run again by `batch resume`.
FINISHED_ITEM_STATUSES = (BatchItemStatus.SUCCEEDED.value, BatchItemStatus.FAILED.value)


class BatchQueueRepo(StoreBase):
    async def claim_batch(
        self, batch_id: str, pid: int, pid_started_at: float | None, *, concurrency: int
    ) -> int | None:
        """Make this process the batch's owner and mark it running, unless another live process
        owns it (checked and written in one transaction, so two `batch resume` at once cannot both
        win). Returns None when claimed, else the owner's pid."""
        from ..procinfo import same_process

        async with self.transaction() as conn:
            rows = await conn.execute_fetchall(
                "SELECT status, pid, pid_started_at FROM batch_runs WHERE id = ?", (batch_id,)
            )
            row = next(iter(rows), None)
            if (
                row is not None
                and row["status"] == "running"
                and row["pid"] != pid
                and same_process(row["pid"], row["pid_started_at"])
            ):
                return int(row["pid"])
            await conn.execute(
                "UPDATE batch_runs SET status = 'running', pid = ?, pid_started_at = ?, concurrency = ?,"
                " started_at = COALESCE(started_at, ?), ended_at = NULL WHERE id = ?",
                (pid, pid_started_at, concurrency, now_iso(), batch_id),
            )
        return None

    async def reset_unfinished_items(self, batch_id: str) -> int:
        """Items left running/aborted/errored by a dead or aborted owner become pending again."""
        finished = ", ".join("?" for _ in FINISHED_ITEM_STATUSES)
        async with self._write_lock:
            cur = await self.conn.execute(
                f"UPDATE batch_items SET status = 'pending', error = NULL, ended_at = NULL"
                f" WHERE batch_id = ? AND status NOT IN ({finished})",
                (batch_id, *FINISHED_ITEM_STATUSES),
            )
            return cur.rowcount or 0

    async def mark_items(self, batch_id: str, status: BatchItemStatus, *, where_status: list[str], error: str) -> int:
        marks = ", ".join("?" for _ in where_status)
        async with self._write_lock:
            cur = await self.conn.execute(
                f"UPDATE batch_items SET status = ?, error = COALESCE(error, ?), ended_at = COALESCE(ended_at, ?)"
                f" WHERE batch_id = ? AND status IN ({marks})",
                (status.value, error, now_iso(), batch_id, *where_status),
            )
            return cur.rowcount or 0

    async def session_for_batch_item(self, item_id: str) -> Session | None:
        """The session a (possibly killed) earlier attempt created for this item, if any."""
        row = await self._fetchone(
            "SELECT * FROM sessions WHERE batch_item_id = ? ORDER BY created_at DESC LIMIT 1", (item_id,)
        )
        return self._model(Session, row)

    async def batch_counts(self, batch_id: str) -> dict[str, int]:
        rows = await self._fetchall(
            "SELECT status, COUNT(*) AS n FROM batch_items WHERE batch_id = ? GROUP BY status", (batch_id,)
        )
        return {str(r["status"]): int(r["n"]) for r in rows}

    async def batch_item_stats(self, batch_id: str) -> list[dict[str, Any]]:
        """Each item with its session's branch and its iterations' totals (for status and export)."""
        rows = await self._fetchall(
            "SELECT b.*, s.branch AS branch, s.worktree_path AS worktree_path, s.status AS session_status,"
            " COUNT(i.id) AS iterations,"
            " COALESCE(SUM(i.input_tokens), 0) AS input_tokens,"
            " COALESCE(SUM(i.output_tokens), 0) AS output_tokens,"
            " COALESCE(SUM(i.cache_creation_tokens + i.cache_read_tokens), 0) AS cache_tokens,"
            " SUM(i.cost_usd) AS cost_usd,"
            " SUM(CASE WHEN i.id IS NOT NULL AND i.cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced,"
            " (SELECT test_exit_code FROM iterations li WHERE li.session_id = b.session_id"
            "  ORDER BY li.number DESC LIMIT 1) AS test_exit_code"
            " FROM batch_items b"
            " LEFT JOIN sessions s ON s.id = b.session_id"
            " LEFT JOIN iterations i ON i.session_id = b.session_id"
            " WHERE b.batch_id = ? GROUP BY b.id ORDER BY b.ordinal",
            (batch_id,),
        )
        return [dict(r) for r in rows]
