"""`Store.list_session_rows`: the dashboard's lean read (plain objects, one query) says exactly what
`list_sessions` plus `session_totals` say, for every column the sessions list uses."""

from __future__ import annotations

from pathlib import Path

from ampsm_tui.engine.models import Iteration, Session
from ampsm_tui.engine.store import Store

from .tui_support import seed_every_status


async def test_lean_rows_match_the_models_and_totals(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    await store.open()
    try:
        await seed_every_status(store)
        extra = await store.create_session(
            Session(name="no-iterations", repo_path="/r", base_branch="main", created_at="2025-03-14T16:00:00.000Z")
        )
        # a running iteration, an unpriced one and cache tokens on one session
        await store.create_iteration(
            Iteration(session_id="sess-00000001", number=9, status="running", started_at="2025-03-14T15:00:00.000Z")
        )
        await store.create_iteration(
            Iteration(
                session_id="sess-00000001",
                number=10,
                status="completed",
                input_tokens=7,
                output_tokens=3,
                cache_read_tokens=11,
                cache_creation_tokens=5,
                started_at="2025-03-14T15:01:00.000Z",
            )
        )
        rows = await store.list_session_rows()
        sessions = await store.list_sessions()
        totals = await store.session_totals()
    finally:
        await store.close()

    assert [item.id for item, _ in rows] == [s.id for s in sessions]  # newest first, same order
    assert rows[0][0].id == extra.id
    for (item, row_totals), session in zip(rows, sessions, strict=True):
        assert isinstance(item, tuple) and isinstance(row_totals, tuple)  # plain rows, not pydantic models
        for field, value in item._asdict().items():
            assert value == getattr(session, field), (session.id, field)
        assert row_totals._asdict() == (
            totals[session.id].model_dump() if session.id in totals else type(row_totals)()._asdict()
        ), session.id
    busy = next(t for item, t in rows if item.id == "sess-00000001")
    assert busy.running_since == "2025-03-14T15:00:00.000Z" and busy.unpriced == 1 and busy.cache_tokens >= 16
