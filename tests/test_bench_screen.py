"""The benchmark screen on the real app and the real Store: leaderboard, instances, enter opens a diff."""

from __future__ import annotations

import pytest

from ampsm_tui.engine.bench.models import BenchInstance, BenchMode, BenchRun, InstanceStatus
from tests.tui_support import fixed_clock, make_test_config, open_store, seed_every_status, stand_in_factory

pytestmark = pytest.mark.tui


async def test_bench_screen_shows_leaderboard_and_instances_and_opens_the_diff() -> None:
    from textual.widgets import DataTable

    from ampsm_tui.app import create_app
    from ampsm_tui.screens.bench import BenchScreen
    from ampsm_tui.screens.diff import DiffScreen

    config = make_test_config(auto_update=True)
    store = await open_store(config)
    await seed_every_status(store)
    await store.create_bench_run(BenchRun(id="bench-run-1", mode=BenchMode.AGENTS, dataset_path="/d/fixture.jsonl"))

    def row(
        n: int, name: str, iid: str, status: InstanceStatus, cost: float | None, session: str | None
    ) -> BenchInstance:
        return BenchInstance(
            run_id="bench-run-1", instance_id=iid, model_name_or_path=name, agent=name, ordinal=n, status=status,
            cost_usd=cost, session_id=session, duration_s=2.0 + n, input_tokens=100, iterations=1,
        )  # fmt: skip

    await store.add_bench_instances(
        [
            row(0, "amp", "calc-1", InstanceStatus.RESOLVED, 0.5, "sess-00000003"),
            row(1, "amp", "calc-2", InstanceStatus.UNRESOLVED, 0.25, "sess-00000004"),
            row(0, "gemini", "calc-1", InstanceStatus.RESOLVED, None, "sess-00000005"),
            row(1, "gemini", "calc-2", InstanceStatus.ERROR, None, None),
        ]
    )
    await store.close()

    app = create_app(config, engine_factory=stand_in_factory, clock=fixed_clock, poll_interval=0.05, cursor_blink=False)
    async with app.run_test(size=(140, 40)) as pilot:
        opened: list[str] = []
        screen = BenchScreen(on_open=opened.append)
        await app.push_screen(screen)
        await pilot.pause()
        await screen.workers.wait_for_complete()
        await pilot.pause()
        board = screen.query_one("#bench-board", DataTable)
        assert board.row_count == 2
        amp = [str(c) for c in board.get_row("amp")]
        gemini = [str(c) for c in board.get_row("gemini")]
        assert amp[:3] == ["amp", "50.0%", "1"] and amp[7] == "$0.3750" and amp[8] == "$0.7500"
        assert gemini[7] == "unpriced" and gemini[8] == "unpriced"  # never $0
        instances = screen.query_one("#bench-instances", DataTable)
        assert instances.row_count == 4
        cells = {k.value: [str(c) for c in instances.get_row(k)] for k in instances.rows}
        assert cells["gemini\tcalc-1"][5] == "unpriced" and cells["amp\tcalc-1"][5] == "$0.5000"
        assert cells["gemini\tcalc-2"][2] == "error" and cells["gemini\tcalc-2"][5] == "–"

        # a headless run grading another instance shows up through the DB poll
        other = await open_store(config)  # another process's connection
        try:
            await other.update_bench_instance(2, status=InstanceStatus.RESOLVED.value)
        finally:
            await other.close()
        for _ in range(100):
            await pilot.pause(0.05)
            if str(instances.get_row("amp\tcalc-2")[2]) == "resolved":
                break
        assert str(instances.get_row("amp\tcalc-2")[2]) == "resolved"

        instances.focus()
        instances.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        assert opened == ["sess-00000003"]

        await pilot.press("escape")
        await pilot.pause()
        default = BenchScreen()
        await app.push_screen(default)
        await pilot.pause()
        await default.workers.wait_for_complete()
        await pilot.pause()
        table = default.query_one("#bench-instances", DataTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen) and app.screen.session_id == "sess-00000003"
