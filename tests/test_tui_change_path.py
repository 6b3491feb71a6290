"""The path from another process's commit to the screen, kept short under load (issue 16): a load in
progress is never cancelled by the next change (the requests made meanwhile become one more load), the
selected session's detail is reloaded only when that session changed, the change check is one
statement, and the remote tails read the DB only after it changed. Figures: bench/tui_soak.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ampsm_tui.app import create_app
from ampsm_tui.engine.models import Iteration, Session
from ampsm_tui.engine.store import Store
from ampsm_tui.live_tail import RemoteTails
from ampsm_tui.screens.dashboard import DashboardScreen
from ampsm_tui.transcripts import Transcripts

from .tui_support import FIXED_NOW, make_test_config, open_store, seed_async, settle, stand_in_factory, wait_for

pytestmark = pytest.mark.tui


def dash(app: Any) -> DashboardScreen:
    screen = app.screen
    assert isinstance(screen, DashboardScreen), type(screen)
    return screen


async def test_changes_during_a_load_become_one_more_load_never_a_cancelled_one() -> None:
    config = make_test_config()
    await seed_async(config)
    app = create_app(config, engine_factory=stand_in_factory, clock=lambda: FIXED_NOW, cursor_blink=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        screen = dash(app)
        real = app.store.list_session_rows
        entered: list[int] = []
        inside = asyncio.Event()
        gate = asyncio.Event()

        async def gated() -> Any:
            entered.append(1)
            inside.set()
            await gate.wait()
            return await real()

        app.store.list_session_rows = gated  # type: ignore[method-assign]
        applied: list[int] = []
        apply = screen._apply

        def counting(*args: Any, **kwargs: Any) -> None:
            applied.append(1)
            apply(*args, **kwargs)

        screen._apply = counting  # type: ignore[method-assign]
        screen.request_reload()
        await asyncio.wait_for(inside.wait(), 30)
        for _ in range(4):  # a stream of changes while the load waits on the DB
            screen.request_reload()
            await pilot.pause(0.05)
        assert len(entered) == 1  # the load in progress was not replaced
        gate.set()
        await settle(pilot)
        assert await wait_for(pilot, lambda: len(applied) == 2)
        await settle(pilot)
        assert len(entered) == 2 and len(applied) == 2  # one more load for all four, none cancelled


async def test_a_change_to_another_session_leaves_the_selected_detail_alone() -> None:
    config = make_test_config()
    await seed_async(config)
    app = create_app(config, engine_factory=stand_in_factory, clock=lambda: FIXED_NOW, cursor_blink=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = dash(app)
        selected = screen.selected
        assert selected is not None
        other = next(sid for sid in screen.sessions if sid != selected)
        loads: list[str] = []
        real = app.store.list_iterations

        async def counting(session_id: str) -> Any:
            loads.append(session_id)
            return await real(session_id)

        app.store.list_iterations = counting  # type: ignore[method-assign]
        await app.store.update_session(other, name="renamed elsewhere")
        screen.request_reload()
        assert await wait_for(pilot, lambda: screen.sessions[other].name == "renamed elsewhere")
        await settle(pilot)
        assert loads == []  # the selected session did not change: no detail load, no git diff
        await app.store.update_session(selected, name="renamed too")
        screen.request_reload()
        assert await wait_for(pilot, lambda: loads == [selected])
        await pilot.press("r")  # `r` reloads the detail whatever changed
        await settle(pilot)
        assert loads == [selected, selected]


async def test_change_state_is_data_version_and_the_fingerprint(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    await store.open()
    other = Store(tmp_path / "s.db")
    await other.open()
    try:
        before = await store.change_state()
        assert before == (await store.data_version(), *(await store.change_fingerprint()))
        await other.create_session(Session(name="x", repo_path="/r", base_branch="main"))
        after = await store.change_state()
        assert after != before and after[0] != before[0]  # another connection committed
        assert after == (await store.data_version(), *(await store.change_fingerprint()))
    finally:
        await other.close()
        await store.close()


async def test_remote_tails_read_the_db_only_after_it_changed(tmp_path: Path) -> None:
    config = make_test_config()
    store = await open_store(config)
    try:
        session = await store.create_session(
            Session(name="elsewhere", repo_path="/r", base_branch="main", status="running", pid=1, agent="amp")
        )
        raw = tmp_path / "raw.jsonl"
        raw.write_text("")
        await store.create_iteration(
            Iteration(
                session_id=session.id,
                number=1,
                status="running",
                started_at="2025-03-14T15:00:00.000Z",
                raw_log_path=str(raw),
            )
        )
        transcripts = Transcripts()

        class Sink:
            def feed(self, event: dict[str, Any]) -> None: ...

            def feed_line(self, kind: str, text: str) -> None: ...

        transcripts.attach(session.id, Sink())
        tails = RemoteTails(store, transcripts, is_local=lambda _sid: False, pid=2)
        reads: list[str] = []
        real = store.get_session

        async def counting(session_id: str) -> Any:
            reads.append(session_id)
            return await real(session_id)

        store.get_session = counting  # type: ignore[method-assign]
        await tails.tick(db_changed=False)  # newly watched: read whatever the flag
        assert reads == [session.id] and session.id in tails.tails
        await tails.tick(db_changed=False)
        await tails.tick(db_changed=False)
        assert reads == [session.id]  # nothing changed: the file only
        await tails.tick(db_changed=True)
        assert reads == [session.id, session.id]
    finally:
        await store.close()
