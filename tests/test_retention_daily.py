"""telemetry.retention_days is applied once a day by whatever opens the engine (CLI or TUI)."""

from __future__ import annotations

import os
from pathlib import Path

from ampsm_tui.engine.engine import Engine
from ampsm_tui.engine.models import Iteration, Session, ToolCall


async def _seed_old(engine: Engine, name: str) -> int:
    s = await engine.store.create_session(Session(name=name, repo_path="/r", base_branch="main"))
    it = await engine.store.create_iteration(
        Iteration(session_id=s.id, number=1, started_at="2020-01-01T00:00:00.000Z", input_tokens=7)
    )
    assert it.id is not None
    call = await engine.store.add_tool_call(
        ToolCall(iteration_id=it.id, session_id=s.id, name="Bash", started_at="2020-01-01T00:00:01.000Z")
    )
    assert call.id is not None
    return call.id


async def _calls(engine: Engine) -> int:
    row = await engine.store._fetchone("SELECT COUNT(*) FROM tool_calls")
    return int(row[0]) if row else 0


async def test_old_detail_is_pruned_once_a_day(isolated_env: Path) -> None:
    engine = await Engine.open()
    await engine.close()  # first open: nothing old yet, the marker is written
    marker = isolated_env / "last-prune"
    assert marker.exists()

    engine = await Engine.open()
    await _seed_old(engine, "old")
    await engine.close()
    engine = await Engine.open()  # within the day: no second prune
    try:
        assert await _calls(engine) == 1
    finally:
        await engine.close()

    day_ago = marker.stat().st_mtime - 2 * 86400
    os.utime(marker, (day_ago, day_ago))
    engine = await Engine.open()  # a day later: the 2020 tool call goes, the iteration's totals stay
    await engine.close()
    engine = await Engine.open()
    try:
        assert await _calls(engine) == 0
        (s,) = await engine.store.list_sessions()
        (it,) = await engine.store.list_iterations(s.id)
        assert it.input_tokens == 7
    finally:
        await engine.close()
