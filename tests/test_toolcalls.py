"""An iteration's tool calls as `ToolCallRecorder` writes them: batched, in arrival order, scrubbed,
and a call written while still open finished later through its row id (real DB file)."""

from __future__ import annotations

from pathlib import Path

from ampsm_tui.engine.agents.base import ToolCallEvent, ToolResultEvent
from ampsm_tui.engine.models import Iteration, Session
from ampsm_tui.engine.store import Store
from ampsm_tui.engine.toolcalls import ToolCallRecorder

KEY = "sk-ant-" + "k" * 30


async def _store(path: Path) -> tuple[Store, int, int]:
    store = Store(path)
    await store.open()
    s = await store.create_session(Session(id="sess-tc000001", name="n", repo_path="/r", base_branch="main"))
    one = await store.create_iteration(Iteration(session_id=s.id, number=1, prompt="p"))
    two = await store.create_iteration(Iteration(session_id=s.id, number=2, prompt="p"))
    assert one.id is not None and two.id is not None
    return store, one.id, two.id


def call(tid: str, command: str = "ls") -> ToolCallEvent:
    return ToolCallEvent(id=tid, name="Bash", input_summary=command)


def result(tid: str, ok: bool = True, ms: int = 7) -> ToolResultEvent:
    return ToolResultEvent(id=tid, ok=ok, duration_ms=ms)


async def test_calls_are_recorded_in_order_finished_and_scrubbed(tmp_path: Path) -> None:
    store, it, other = await _store(tmp_path / "s.db")
    try:
        # the same tool ids in another iteration, written open: never touched by this one's results
        elsewhere = ToolCallRecorder(store, iteration_id=other, session_id="sess-tc000001")
        await elsewhere.started(call("toolu_a"))
        await elsewhere.started(call("toolu_b"))
        await elsewhere.close()

        rec = ToolCallRecorder(store, iteration_id=it, session_id="sess-tc000001")
        await rec.started(call("toolu_a", f"curl -H 'Authorization: Bearer {KEY}'"))
        await rec.finished(result("toolu_a", ms=5))  # finished before written: one INSERT, finished
        await rec.started(call("toolu_b"))  # written open (the flush below), finished by its row id
        await rec.started(call("toolu_c"))
        await rec.finished(result("toolu_c", ok=False, ms=9))
        await rec.flush()
        await rec.started(call("toolu_d"))
        await rec.finished(result("toolu_b", ms=11))
        await rec.finished(result("toolu_d", ms=3))
        await rec.finished(result("toolu_zz"))  # a result without its call: nothing
        await rec.close()

        calls = await store.list_tool_calls(iteration_id=it)
        assert [(c.tool_use_id, c.duration_ms, c.ok) for c in calls] == [
            ("toolu_a", 5, True),
            ("toolu_b", 11, True),
            ("toolu_c", 9, False),
            ("toolu_d", 3, True),
        ]
        assert KEY not in calls[0].args_summary and "[REDACTED]" in calls[0].args_summary
        assert all(c.started_at and c.session_id == "sess-tc000001" for c in calls)
        untouched = await store.list_tool_calls(iteration_id=other)
        assert [(c.tool_use_id, c.duration_ms) for c in untouched] == [("toolu_a", None), ("toolu_b", None)]
    finally:
        await store.close()


async def test_record_tool_calls_gives_the_rows_of_open_calls(tmp_path: Path) -> None:
    """Their results update the row by id: a lookup by (iteration, tool id) scanned every call of
    the iteration, once per result, quadratic in a long turn."""
    store, it, _ = await _store(tmp_path / "s.db")
    try:
        rows = [
            ["toolu_1", "Read", "a.py", "2026-01-01T00:00:00.000Z", 4, True],
            ["toolu_2", "Bash", "make", "2026-01-01T00:00:00.001Z", None, None],
            [None, "Bash", "no id", "2026-01-01T00:00:00.002Z", None, None],
            ["toolu_3", "Edit", "b.py", "2026-01-01T00:00:00.003Z", None, None],
        ]
        open_ids = await store.record_tool_calls(it, "sess-tc000001", rows, [])
        calls = {c.tool_use_id: c for c in await store.list_tool_calls(iteration_id=it)}
        assert open_ids == {"toolu_2": calls["toolu_2"].id, "toolu_3": calls["toolu_3"].id}
        await store.record_tool_calls(it, "sess-tc000001", [], [(20, False, open_ids["toolu_3"], "toolu_3")])
        after = await store.list_tool_calls(iteration_id=it)
        assert [(c.tool_use_id, c.duration_ms, c.ok) for c in after] == [
            ("toolu_1", 4, True),
            ("toolu_2", None, None),
            (None, None, None),
            ("toolu_3", 20, False),
        ]
    finally:
        await store.close()
