"""SVG snapshots of the TUI (pytest-textual-snapshot), stored under `snapshots/`.

Deterministic: fixed terminal sizes, a fixed clock, fixed ids (seeded rows), the gruvbox theme,
no cursor blink, no DB watch. The stand-in engine only answers `diff` with fixed text so no git
hash reaches the screen. Update with `pytest tests/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import pytest_textual_snapshot
from syrupy.location import PyTestLocation
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerState

from ampsm_tui.app import AmpsmApp, create_app
from ampsm_tui.engine.agents.base import (
    AgentEvent,
    TextEvent,
    ThinkingEvent,
    ToolCallEvent,
    ToolResultEvent,
)
from ampsm_tui.engine.events import AgentEventPublished, IterationStarted
from ampsm_tui.engine.models import Iteration

from .tui_support import FIXED_NOW, fixed_clock, make_test_config, open_store, seed, seed_parallel, stand_in_factory

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"

pytestmark = pytest.mark.tui


class SnapshotsDirExtension(pytest_textual_snapshot.SVGImageExtension):
    """The plugin keeps SVGs in `tests/__snapshots__/<module>/`; ours live in `snapshots/<module>/`."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(SNAPSHOTS / Path(test_location.filepath).stem)


@pytest.fixture(autouse=True)
def _snapshots_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    # snap_compare looks the extension up in its module when it runs, after autouse fixtures.
    monkeypatch.setattr(pytest_textual_snapshot, "SVGImageExtension", SnapshotsDirExtension)


def make_app(*, every_status: bool = True, batch: bool = False, running: bool = False) -> AmpsmApp:
    config = make_test_config()
    config.ui.theme = "gruvbox"
    seed(config, every_status=every_status, batch=batch)
    seed_parallel(config)
    if running:
        import asyncio

        asyncio.run(_running_iteration(config))
    app = create_app(config, engine_factory=stand_in_factory, clock=fixed_clock, cursor_blink=False)
    app.workspace_label = "db ~/.ampsm/sessions.db"  # type: ignore[attr-defined]  # no tmp path on screen
    return app


async def _running_iteration(config: Any) -> None:
    """The running session's current iteration, started 65 s before the fixed clock (elapsed 1m 05s)."""
    from datetime import timedelta

    store = await open_store(config)
    started = (FIXED_NOW - timedelta(seconds=65)).isoformat().replace("+00:00", "Z")
    await store.create_iteration(Iteration(session_id="sess-00000000", number=9, status="running", started_at=started))
    await store.close()


async def settle(pilot: Pilot[Any]) -> None:
    from ampsm_tui.widgets.output_log import OutputLog

    # Until quiet: a worker's result can start another (candidates loaded → row highlighted → its
    # diff loaded), and on a loaded machine that chain outlasts any fixed number of rounds.
    quiet = 0
    for _ in range(60):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:  # an exclusive reload replaced an older one
            quiet = 0
            continue
        await pilot.pause(0.05)
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers)
        quiet = 0 if busy else quiet + 1
        if quiet >= 3:
            break
    # The output pane folds queued lines in on a timer: fold them now, so a loaded machine's late
    # timer cannot leave a snapshot half-filled.
    for log in pilot.app.screen.query(OutputLog):
        log.flush()
    await pilot.pause(0.05)
    # ...and where the pane stands: lines that arrived after its first layout would otherwise
    # leave it at the top on one run and at the tail (where it follows) on another.
    # A scroll made before the last layout stops short of the new end: until it is at the end.
    for log in pilot.app.screen.query(OutputLog):
        for _ in range(40):
            log.scroll_end(animate=False, immediate=True)
            await pilot.pause(0.05)
            if log.is_vertical_scroll_end:
                break


SIZES = [(80, 24), (160, 48)]
SIZE_IDS = ["80x24", "160x48"]


def _push(factory: Any) -> Any:
    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.app.push_screen(factory())
        await settle(pilot)

    return run


def _keys(*keys: str) -> Any:
    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run


def _overlaps(pilot: Pilot[Any]) -> Any:
    """The dashboard with two live sessions flagged as overlapping (their worktrees are not on disk
    here, so the marks are set as the overlap check would set them)."""

    async def run(pilot: Pilot[Any]) -> None:
        from ampsm_tui.widgets.session_list import SessionTable

        await settle(pilot)
        conflict = "overlaps {} on app.py: predicted conflict in app.py"
        pilot.app.screen.query_one(SessionTable).set_overlaps(
            {"sess-00000001": conflict.format("sess-00000004"), "sess-00000004": conflict.format("sess-00000001")}
        )
        await settle(pilot)

    return run(pilot)


def _screens() -> dict[str, Any]:
    from ampsm_tui.screens.bench import BenchScreen
    from ampsm_tui.screens.best_of import BestOfScreen
    from ampsm_tui.screens.chat import ChatScreen
    from ampsm_tui.screens.conflict import ConflictScreen
    from ampsm_tui.screens.dialogs import ConfirmScreen, PromptScreen
    from ampsm_tui.screens.new_session import NewSessionScreen
    from ampsm_tui.screens.session import SessionScreen

    return {
        "dashboard": _keys(),
        "dashboard_overlaps": _overlaps,
        "session_detail": _push(lambda: SessionScreen("sess-00000001")),
        "diff": _keys("d", "right_square_bracket"),
        "review": _keys("m"),
        "chat": _push(lambda: ChatScreen("sess-00000001")),
        "batches": _keys("b"),
        "best_of": _push(lambda: BestOfScreen("sess-00000001")),
        "merge_queue": _keys("Q"),
        "bench": _push(BenchScreen),
        "help": _keys("question_mark"),
        "new_session": _push(lambda: NewSessionScreen(repo="/home/dev/projects/webapp")),
        "confirm": _push(
            lambda: ConfirmScreen("Archive fix-login-bug? Unmerged work is kept under refs/ampsm/archive/.")
        ),
        "prompt": _push(lambda: PromptScreen("Iterate fix-login-bug", placeholder="Optional follow-up prompt")),
        "conflict": _push(
            lambda: ConflictScreen("sess-00000000", "merge", ["app.py", "README.md"], "/home/dev/projects/webapp")
        ),
    }


SCREENS = list(_screens())


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("screen", SCREENS)
def test_every_screen(snap_compare: Any, screen: str, size: tuple[int, int]) -> None:
    """Every screen and dialog at 80x24 (SSH) and 160x48, with a running session (spinner, elapsed)."""
    app = make_app(batch=True, running=True)
    assert snap_compare(app, terminal_size=size, run_before=_screens()[screen])


def test_empty_dashboard(snap_compare: Any) -> None:
    assert snap_compare(make_app(every_status=False), terminal_size=(120, 30), run_before=settle)


def test_session_output(snap_compare: Any) -> None:
    async def stream(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        app: AmpsmApp = pilot.app  # type: ignore[assignment]
        bus = app.engine.bus
        sid = "sess-00000000"
        await bus.publish(IterationStarted(session_id=sid, iteration=2, prompt="Add sub()", agent="amp"))
        events: list[AgentEvent] = [  # typed, as the runner publishes them
            ThinkingEvent(text="The user wants sub().\nLook at app.py first."),
            TextEvent(text="I'll add a `sub` function next to `add`."),
            ToolCallEvent(id="t1", name="edit_file", input_summary="app.py"),
            ToolResultEvent(id="t1", ok=True, output_summary="ok"),
            ToolCallEvent(id="t2", name="Bash", input_summary="pytest -q"),
            ToolResultEvent(id="t2", ok=True, output_summary="4 passed"),
            TextEvent(text="Done: sub() added and tested."),
        ]
        for event in events:
            await bus.publish(AgentEventPublished(session_id=sid, iteration=2, event=event))
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=stream)
