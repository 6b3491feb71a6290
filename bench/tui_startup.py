"""TUI figures: launch → first painted dashboard with 0 and 10,000 sessions in the DB, and key-press
latency while a session streams 50,000 lines. Prints numbers; never run as a test.

    .venv/bin/python bench/tui_startup.py [--sessions 10000] [--lines 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


async def _seed(n: int) -> None:
    from ampsm_tui.engine.config import load_config
    from ampsm_tui.engine.models import Iteration, Session, SessionStatus
    from ampsm_tui.engine.store import Store

    store = Store.from_config(load_config())
    await store.open()
    statuses = list(SessionStatus)
    async with store.transaction() as conn:
        for i in range(n):
            s = Session(
                id=f"sess-{i:08x}",
                name=f"task-{i}",
                repo_path="/tmp/repo",
                base_branch="main",
                branch=f"amp/task-{i}/20250314-000000",
                status=statuses[i % len(statuses)],
                created_at=f"2025-03-14T00:00:{i % 60:02d}.000Z",
                updated_at="2025-03-14T00:00:00.000Z",
            )
            data = s.model_dump(mode="json")
            await conn.execute(
                f"INSERT INTO sessions ({', '.join(data)}) VALUES ({', '.join('?' for _ in data)})", list(data.values())
            )
            it = Iteration(
                session_id=s.id,
                number=1,
                status="completed",
                input_tokens=100,
                output_tokens=10,
                cost_usd=0.001,
                started_at="2025-03-14T00:00:00.000Z",
            )
            d = it.model_dump(mode="json", exclude={"id"})
            await conn.execute(
                f"INSERT INTO iterations ({', '.join(d)}) VALUES ({', '.join('?' for _ in d)})", list(d.values())
            )
    await store.close()


async def _first_paint(size: tuple[int, int]) -> float:
    """Seconds from constructing the app to the dashboard's sessions painted."""
    from ampsm_tui.app import create_app
    from ampsm_tui.engine.config import load_config
    from ampsm_tui.screens.dashboard import DashboardScreen
    from ampsm_tui.widgets.session_list import SessionTable

    config = load_config()
    config.ui.auto_update = False
    start = time.perf_counter()
    app = create_app(config, cursor_blink=False)
    async with app.run_test(size=size) as pilot:
        expected = None
        while True:
            await pilot.pause(0.005)
            if isinstance(app.screen, DashboardScreen):
                screen = app.screen
                if expected is None:
                    expected = await app.store.count_sessions()
                table = screen.query_one(SessionTable)
                if table.row_count == min(expected, table.max_rows) and table.matching == expected:
                    break
        await pilot.pause(0)  # one more refresh: the frame is on screen
        return time.perf_counter() - start


async def _latency_while_streaming(lines: int, size: tuple[int, int]) -> dict[str, float]:
    """Publish `lines` text events (100 lines per 5 ms, an agent's pipe) for the selected session
    while pressing j/k every 20 ms; time each press from the key event to the cursor having moved
    (which includes loading the newly selected session's detail)."""
    from textual import events

    from ampsm_tui.app import create_app
    from ampsm_tui.engine.config import load_config
    from ampsm_tui.engine.events import AgentEventPublished
    from ampsm_tui.widgets.output_log import OutputLog
    from ampsm_tui.widgets.session_list import SessionTable

    config = load_config()
    config.ui.auto_update = False
    app = create_app(config, cursor_blink=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        screen = app.screen
        table = screen.query_one(SessionTable)
        output = screen.query_one(OutputLog)
        sid = screen.selected  # type: ignore[attr-defined]
        assert sid, "no session selected"
        bus = app.engine.bus
        done = asyncio.Event()

        async def stream() -> None:
            for n in range(lines):
                await bus.publish(
                    AgentEventPublished(
                        session_id=sid, iteration=1, event={"kind": "text", "text": f"line {n} " + "x" * 60}
                    )
                )
                if n % 100 == 0:
                    await asyncio.sleep(0.005)  # an agent's pipe delivers chunks of lines
            done.set()

        task = asyncio.create_task(stream())
        latencies: list[float] = []
        key = "j"
        while not done.is_set():
            row = table.cursor_row
            t0 = time.perf_counter()
            app.post_message(events.Key(key, key))  # as the driver does; Pilot.press waits for idle
            while table.cursor_row == row:
                await asyncio.sleep(0.0005)
            latencies.append(time.perf_counter() - t0)
            key = "k" if key == "j" else "j"
            await asyncio.sleep(0.02)  # a human does not press faster than this
        await task
        table.move_cursor(row=0)  # back to the streaming session: the capped view is replayed
        await pilot.pause(0.3)
        output.flush()
        kept = output.line_count
    latencies.sort()
    return {
        "presses": len(latencies),
        "median_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
        "lines_kept": kept,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=50_000)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    for count in (0, args.sessions):
        with tempfile.TemporaryDirectory() as home:
            os.environ["AMPSM_CONFIG_DIR"] = home
            asyncio.run(_seed(count))
            for size in ((80, 24), (200, 60)):
                seconds = asyncio.run(_first_paint(size))
                print(f"first painted dashboard, {count:>6} sessions, {size[0]}x{size[1]}: {seconds * 1000:8.0f} ms")
    with tempfile.TemporaryDirectory() as home:
        os.environ["AMPSM_CONFIG_DIR"] = home
        asyncio.run(_seed(20))
        stats = asyncio.run(_latency_while_streaming(args.lines, (120, 40)))
        print(
            f"key-press latency while streaming {args.lines} lines: {stats['presses']} presses, "
            f"median {stats['median_ms']:.1f} ms, p95 {stats['p95_ms']:.1f} ms, max {stats['max_ms']:.1f} ms; "
            f"lines kept in memory {stats['lines_kept']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
