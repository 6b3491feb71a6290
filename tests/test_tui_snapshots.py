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
from textual.worker import WorkerCancelled

from ampsm_tui.app import AmpsmApp, create_app
from ampsm_tui.engine.agents.base import (
    AgentEvent,
    TextEvent,
    ThinkingEvent,
    ToolCallEvent,
    ToolResultEvent,
)
from ampsm_tui.engine.events import AgentEventPublished, IterationStarted

from .tui_support import fixed_clock, make_test_config, seed, stand_in_factory

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


def make_app(*, every_status: bool = True, batch: bool = False) -> AmpsmApp:
    config = make_test_config()
    config.ui.theme = "gruvbox"
    seed(config, every_status=every_status, batch=batch)
    return create_app(config, engine_factory=stand_in_factory, clock=fixed_clock, cursor_blink=False)


async def settle(pilot: Pilot[Any]) -> None:
    for _ in range(3):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:  # an exclusive reload replaced an older one
            continue
        await pilot.pause(0.05)


def test_empty_dashboard(snap_compare: Any) -> None:
    assert snap_compare(make_app(every_status=False), terminal_size=(120, 30), run_before=settle)


def test_dashboard_every_status(snap_compare: Any) -> None:
    assert snap_compare(make_app(batch=True), terminal_size=(160, 40), run_before=settle)


def test_dashboard_80x24(snap_compare: Any) -> None:
    assert snap_compare(make_app(batch=True), terminal_size=(80, 24), run_before=settle)


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


def test_diff_viewer(snap_compare: Any) -> None:
    async def open_diff(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("right_square_bracket")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(120, 30), run_before=open_diff)


def test_review_wizard(snap_compare: Any) -> None:
    async def open_review(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(140, 40), run_before=open_review)


def test_review_wizard_80x24(snap_compare: Any) -> None:
    """Every step of the plan, the message and the diff on one 80x24 screen (no scrolling)."""

    async def open_review(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=open_review)


def test_batches_empty_80x24(snap_compare: Any) -> None:
    async def open_batches(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)

    assert snap_compare(make_app(every_status=False), terminal_size=(80, 24), run_before=open_batches)


def test_conflict_view(snap_compare: Any) -> None:
    async def open_conflict(pilot: Pilot[Any]) -> None:
        from ampsm_tui.screens.conflict import ConflictScreen

        await settle(pilot)
        await pilot.app.push_screen(
            ConflictScreen("sess-00000000", "merge", ["app.py", "README.md"], "/home/dev/projects/webapp")
        )
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=open_conflict)


def test_help_screen(snap_compare: Any) -> None:
    async def open_help(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(100, 40), run_before=open_help)
