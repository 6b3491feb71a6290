"""Iterations, their tool calls and the agents' threads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..clock import now_iso
from ..models import Iteration, Thread, ToolCall
from ..secrets import scrubber
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
        self,
        iteration_id: int,
        session_id: str,
        calls: Sequence[Sequence[Any]],
        finishes: Sequence[tuple[int | None, bool | None, int | None, str]],
    ) -> dict[str, int]:
        """New calls, each `(tool_use_id, name, args_summary, started_at, duration_ms, ok)`, and
        results `(duration_ms, ok, row id or None, tool_use_id)`, in one transaction (the batches of
        `engine.toolcalls`), in the order given. Returns the row ids of the calls written still
        open (no duration), by tool_use_id, so that their results update them by row id.

        The free text (name, arguments) is scrubbed as `_row` would."""
        clean = scrubber()
        rows = [
            (iteration_id, session_id, tid, clean(name), clean(args), started, duration, ok)
            for tid, name, args, started, duration, ok in calls
        ]
        insert = (
            "INSERT INTO tool_calls (iteration_id, session_id, tool_use_id, name, args_summary, started_at,"
            " duration_ms, ok) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        open_ids: dict[str, int] = {}
        async with self.transaction() as conn:
            done = 0  # rows up to here are written; the finished ones go together, an open one alone
            for i, row in enumerate(rows):
                if row[6] is None and row[2]:
                    if done < i:
                        await conn.executemany(insert, rows[done:i])
                    cursor = await conn.execute(insert, row)
                    if cursor.lastrowid is not None:
                        open_ids[row[2]] = cursor.lastrowid
                    done = i + 1
            if done < len(rows):
                await conn.executemany(insert, rows[done:])
            by_id = [(duration, ok, rowid) for duration, ok, rowid, _ in finishes if rowid is not None]
            if by_id:
                await conn.executemany(
                    "UPDATE tool_calls SET duration_ms = ?, ok = ? WHERE id = ? AND duration_ms IS NULL", by_id
                )
            others = [(duration, ok, iteration_id, tid) for duration, ok, rowid, tid in finishes if rowid is None]
            if others:
                await conn.executemany(
                    "UPDATE tool_calls SET duration_ms = ?, ok = ? WHERE iteration_id = ? AND tool_use_id = ?"
                    " AND duration_ms IS NULL",
                    others,
                )
        return open_ids

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
