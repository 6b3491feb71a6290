"""Iterations, their tool calls and the agents' threads."""

from __future__ import annotations

from typing import Any

from ..clock import now_iso
from ..models import Iteration, Thread, ToolCall
from .core import StoreBase


class IterationsRepo(StoreBase):
    async def next_iteration_number(self, session_id: str) -> int:
        row = await self._fetchone("SELECT MAX(number) FROM iterations WHERE session_id = ?", (session_id,))
        return int(row[0] or 0) + 1 if row else 1

    async def create_iteration(self, iteration: Iteration) -> Iteration:
        iteration = iteration.model_copy(update={"started_at": iteration.started_at or now_iso()})
        rowid = await self._insert_model("iterations", iteration, exclude={"id"})
        return iteration.model_copy(update={"id": rowid})

    async def update_iteration(self, iteration_id: int, **fields: Any) -> None:
        await self._update("iterations", "id", iteration_id, fields)

    async def get_iteration(self, iteration_id: int) -> Iteration | None:
        row = await self._fetchone("SELECT * FROM iterations WHERE id = ?", (iteration_id,))
        return self._model(Iteration, row)

    async def list_iterations(self, session_id: str) -> list[Iteration]:
        rows = await self._fetchall("SELECT * FROM iterations WHERE session_id = ? ORDER BY number", (session_id,))
        return self._models(Iteration, rows)

    async def last_iteration(self, session_id: str) -> Iteration | None:
        row = await self._fetchone(
            "SELECT * FROM iterations WHERE session_id = ? ORDER BY number DESC LIMIT 1", (session_id,)
        )
        return self._model(Iteration, row)

    async def add_tool_call(self, call: ToolCall) -> ToolCall:
        call = call.model_copy(update={"started_at": call.started_at or now_iso()})
        rowid = await self._insert_model("tool_calls", call, exclude={"id"})
        return call.model_copy(update={"id": rowid})

    async def finish_tool_call(self, call_id: int, *, duration_ms: int | None, ok: bool | None) -> None:
        await self._update("tool_calls", "id", call_id, {"duration_ms": duration_ms, "ok": ok})

    async def record_tool_calls(
        self, inserts: list[ToolCall], finishes: list[tuple[int | None, bool | None, int, str]]
    ) -> None:
        """New calls and `(duration_ms, ok, iteration_id, tool_use_id)` results, in one
        transaction (the batches of `engine.toolcalls`)."""
        rows = [await self._row("tool_calls", c, exclude={"id"}) for c in inserts]
        async with self.transaction() as conn:
            if rows:
                names = ", ".join(rows[0])
                marks = ", ".join("?" for _ in rows[0])
                await conn.executemany(
                    f"INSERT INTO tool_calls ({names}) VALUES ({marks})", [list(r.values()) for r in rows]
                )
            if finishes:
                await conn.executemany(
                    "UPDATE tool_calls SET duration_ms = ?, ok = ? WHERE iteration_id = ? AND tool_use_id = ?"
                    " AND duration_ms IS NULL",
                    finishes,
                )

    async def list_tool_calls(
        self, *, iteration_id: int | None = None, session_id: str | None = None
    ) -> list[ToolCall]:
        if iteration_id is not None:
            rows = await self._fetchall("SELECT * FROM tool_calls WHERE iteration_id = ? ORDER BY id", (iteration_id,))
        else:
            rows = await self._fetchall("SELECT * FROM tool_calls WHERE session_id = ? ORDER BY id", (session_id,))
        return self._models(ToolCall, rows)

    async def upsert_thread(self, session_id: str, thread_id: str, agent: str) -> None:
        now = now_iso()
        await self._write(
            "INSERT INTO threads(id, session_id, agent, turns, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)"
            " ON CONFLICT(session_id, id) DO UPDATE SET turns = turns + 1, updated_at = excluded.updated_at",
            (thread_id, session_id, agent, now, now),
        )

    async def list_threads(self, session_id: str) -> list[Thread]:
        rows = await self._fetchall("SELECT * FROM threads WHERE session_id = ? ORDER BY created_at", (session_id,))
        return self._models(Thread, rows)
