"""Rows of a session recorded by another ampsm (a Ray worker's private DB), written here as one."""

from __future__ import annotations

from ..models import Iteration, Session, Thread, ToolCall
from .core import StoreBase


class ImportsRepo(StoreBase):
    async def import_session(
        self, session: Session, iterations: list[Iteration], tool_calls: list[ToolCall], threads: list[Thread]
    ) -> dict[int, int]:
        """The session, its iterations, tool calls and threads in one transaction: a driver that
        dies half-way leaves no session without its iterations. Iteration ids are this DB's own
        (the map from the sender's ids is returned); everything else is kept as recorded."""
        id_map: dict[int, int] = {}
        session_row = await self._row("sessions", session)
        iteration_rows = [(it.id, await self._row("iterations", it, exclude={"id"})) for it in iterations]
        thread_rows = [await self._row("threads", t) for t in threads]
        async with self.transaction() as conn:
            await conn.execute(_insert_sql("sessions", session_row), list(session_row.values()))
            for old_id, row in iteration_rows:
                cur = await conn.execute(_insert_sql("iterations", row), list(row.values()))
                if old_id is not None:
                    id_map[old_id] = int(cur.lastrowid or 0)
            for call in tool_calls:
                if call.iteration_id not in id_map:
                    continue
                row = await self._call_row(call.model_copy(update={"iteration_id": id_map[call.iteration_id]}))
                await conn.execute(_insert_sql("tool_calls", row), list(row.values()))
            for row in thread_rows:
                await conn.execute(_insert_sql("threads", row), list(row.values()))
        return id_map

    async def _call_row(self, call: ToolCall) -> dict[str, object]:
        return await self._row("tool_calls", call, exclude={"id"})


def _insert_sql(table: str, row: dict[str, object]) -> str:
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})"
