"""The batch monitor on the real app and the real Store: live rows, progress, enter opens the session."""

from __future__ import annotations

import pytest

from ampsm_tui.engine.models import BatchItemStatus
from tests.tui_support import fixed_clock, make_test_config, open_store, seed_batch, seed_every_status, stand_in_factory

pytestmark = pytest.mark.tui


async def test_batches_screen_lists_items_updates_live_and_opens_a_session() -> None:
    from textual.widgets import DataTable

    from ampsm_tui.app import create_app
    from ampsm_tui.screens.batches import BatchesScreen

    config = make_test_config(auto_update=True)
    store = await open_store(config)
    await seed_every_status(store)
    await seed_batch(store)
    await store.update_batch_item("bitem-00000000", session_id="sess-00000003")
    await store.close()

    app = create_app(config, engine_factory=stand_in_factory, clock=fixed_clock, poll_interval=0.05, cursor_blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("b")  # the app's binding pushes the monitor
        await pilot.pause()
        assert isinstance(app.screen, BatchesScreen)
        await pilot.press("escape")
        await pilot.pause()
        opened: list[str] = []
        screen = BatchesScreen(on_open=opened.append)
        await app.push_screen(screen)
        await pilot.pause()
        await screen.workers.wait_for_complete()
        await pilot.pause()
        batches = screen.query_one("#batches", DataTable)
        items = screen.query_one("#items", DataTable)
        assert batches.row_count == 1
        assert [str(c) for c in batches.get_row("batch-00000001")[3:7]] == ["█████████░░░░░░░", "3/5", "1", "1"]
        assert items.row_count == 5
        assert [items.get_row(k)[3].plain for k in items.rows] == [  # type: ignore[union-attr]
            "succeeded",
            "succeeded",
            "failed",
            "running",
            "pending",
        ]

        # Another writer (a headless batch) finishes an item: the DB poll refreshes the table.
        await app.store.update_batch_item("bitem-00000003", status=BatchItemStatus.SUCCEEDED.value)
        for _ in range(100):
            await pilot.pause(0.05)
            if items.get_row("bitem-00000003")[3].plain == "succeeded":  # type: ignore[union-attr]
                break
        assert items.get_row("bitem-00000003")[3].plain == "succeeded"  # type: ignore[union-attr]
        assert str(batches.get_row("batch-00000001")[4]) == "4/5"

        # An item waiting for its agent's usage limit to reset (issue 19) shows as paused.
        other = await open_store(config)  # another process's batch writes it
        await other.update_batch_item("bitem-00000004", error="paused: amp usage limit until 00:40:00 UTC")
        await other.close()
        for _ in range(100):
            await pilot.pause(0.05)
            if items.get_row("bitem-00000004")[3].plain == "paused":  # type: ignore[union-attr]
                break
        assert items.get_row("bitem-00000004")[3].plain == "paused"  # type: ignore[union-attr]

        # An item run on a Ray cluster (issue 20) says which node ran it.
        other = await open_store(config)
        await other.update_batch_item("bitem-00000001", node_id="ab12cd34ef56", node_host="gpu-7")
        await other.close()
        for _ in range(100):
            await pilot.pause(0.05)
            if str(items.get_row("bitem-00000001")[8]).startswith("on gpu-7 ab12cd34"):
                break
        assert str(items.get_row("bitem-00000001")[8]).startswith("on gpu-7 ab12cd34")

        items.focus()
        items.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        assert opened == ["sess-00000003"]
        # The app handles the screen's OpenSession message too: the session's screen is on top.
        assert type(app.screen).__name__ == "SessionScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        items.focus()
        items.move_cursor(row=4)  # no session yet: a warning, nothing opened
        await pilot.press("enter")
        await pilot.pause()
        assert opened == ["sess-00000003"] and app.screen is screen
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, BatchesScreen)
