"""Port blocks: each live session gets its own run of ports from a pool, allocated atomically.

The choice and the insert happen in one `BEGIN IMMEDIATE` transaction, so two processes creating
sessions at the same moment cannot pick the same block; blocks of sessions that are done or archived
go back to the pool first. A port some other program is listening on is skipped (probed by bind).
"""

from __future__ import annotations

from collections.abc import Callable

from ..clock import now_iso
from .core import StoreBase
from .portpool import FINISHED_STATUSES, choose_block, port_is_free

__all__ = ["FINISHED_STATUSES", "PortsRepo", "choose_block", "port_is_free"]


class PortsRepo(StoreBase):
    async def allocate_ports(
        self, session_id: str, low: int, high: int, size: int, *, probe: Callable[[int], bool] = port_is_free
    ) -> tuple[int, int] | None:
        """(first port, size) of the session's block (an existing one is returned as it is), or None
        when the pool `[low, high]` has no free block of `size`."""
        async with self.transaction() as conn:
            # execute_fetchall: one trip to the DB thread per read instead of three
            for mine in await conn.execute_fetchall(
                "SELECT first_port, size FROM port_blocks WHERE session_id = ?", (session_id,)
            ):
                return int(mine[0]), int(mine[1])
            marks = ", ".join("?" for _ in FINISHED_STATUSES)
            await conn.execute(
                f"DELETE FROM port_blocks WHERE session_id IN (SELECT id FROM sessions WHERE status IN ({marks}))",
                FINISHED_STATUSES,
            )
            rows = await conn.execute_fetchall("SELECT first_port, size FROM port_blocks")
            taken = [(int(r[0]), int(r[1])) for r in rows]
            first = choose_block(taken, low, high, size, probe)
            if first is not None:
                await conn.execute(
                    "INSERT INTO port_blocks (session_id, first_port, size, allocated_at) VALUES (?, ?, ?, ?)",
                    (session_id, first, size, now_iso()),
                )
                return first, size
        return None

    async def session_ports(self, session_id: str) -> tuple[int, int] | None:
        row = await self._fetchone("SELECT first_port, size FROM port_blocks WHERE session_id = ?", (session_id,))
        return (int(row[0]), int(row[1])) if row else None

    async def release_ports(self, session_id: str) -> bool:
        async with self.transaction() as conn:
            cur = await conn.execute("DELETE FROM port_blocks WHERE session_id = ?", (session_id,))
            return (cur.rowcount or 0) > 0
