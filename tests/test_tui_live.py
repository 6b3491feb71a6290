"""The open app sees other processes: a running iteration of a separate `ampsm iterate` streams into the
output pane (tailed from its raw stream file), and a change is picked up even when
`PRAGMA data_version` misses it (the poll's fingerprint)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from ampsm_tui.app import AmpsmApp, create_app
from ampsm_tui.widgets.output_log import OutputLog

from .conftest import run_cli
from .tui_support import dashboard, make_test_config, settle, use_fakes, wait_for

pytestmark = pytest.mark.tui


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_fakes(monkeypatch, tmp_path / "fake-state")


def output_lines(app: AmpsmApp) -> list[str]:
    log = dashboard(app).query_one(OutputLog)
    log.flush()
    return log.plain_lines


async def test_running_iteration_of_another_process_streams_live(repo: Path) -> None:
    app = create_app(make_test_config(auto_update=True), cursor_blink=False, poll_interval=0.1, tail_interval=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, rounds=1)
        session = await app.engine.sessions.create(repo=repo, name="elsewhere", prompt="say hi")
        dashboard(app).reload()
        await settle(pilot)
        assert dashboard(app).selected == session.id
        # the fake amp sleeps after every line it prints: the other process's turn lasts a while
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ampsm_tui",
            "iterate",
            session.id,
            env={**os.environ, "FAKE_AGENT_DELAY": "1.5"},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            seen_live = await wait_for(
                pilot, lambda: "I'll make the change." in output_lines(app), tries=200, pause=0.05
            )
            still_running = proc.returncode is None
            assert seen_live, output_lines(app)
            assert still_running  # shown while the other process's agent was still at work
            lines = output_lines(app)
            assert any(line.startswith("── iteration 1 · amp") and "pid" in line for line in lines), lines
            assert any(line.startswith("⚙ Bash") and "hello" in line for line in lines), lines
        finally:
            _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        # at its end: the rest of the stream, then the commit and the outcome from the DB
        assert await wait_for(pilot, lambda: any("iteration 1 completed" in line for line in output_lines(app)))
        lines = output_lines(app)
        assert "Created hello.txt containing hi." in lines
        assert any(line.startswith("● commit ") for line in lines)
        assert lines.count("I'll make the change.") == 1  # nothing replayed twice
        assert app.remote_tails is not None and app.remote_tails.tails == {}


async def test_change_is_seen_even_when_data_version_does_not_move(repo: Path) -> None:
    app = create_app(make_test_config(auto_update=True), cursor_blink=False, poll_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, rounds=1)

        real = app.store.change_state

        async def frozen() -> tuple[object, ...]:  # data_version as a connection holding a read snapshot reports it
            return (1, *(await real())[1:])

        app.store.change_state = frozen  # type: ignore[method-assign]
        await pilot.pause(0.3)
        result = run_cli("new", "--repo", str(repo), "--name", "from-cli", "--agent", "command", "--agent-cmd", "true")
        assert result.returncode == 0, result.stderr
        assert await wait_for(pilot, lambda: bool(dashboard(app).sessions))
        assert [s.name for s in dashboard(app).sessions.values()] == ["from-cli"]
        sid = next(iter(dashboard(app).sessions))
        result = run_cli("iterate", sid)
        assert result.returncode == 0, result.stderr
        table = dashboard(app).query_one("#sessions")
        assert await wait_for(pilot, lambda: table.get_cell(sid, "iters") == "1")  # type: ignore[attr-defined]


async def test_past_iterations_replay_their_stream_in_order(repo: Path) -> None:
    """An iteration run before the app started (by another process) is shown as it streamed: the
    agent's first words, the tool call and the final words in order, then commit and tests; the
    older iterations beyond the replay window are summarised from the DB."""
    from ampsm_tui.live_tail import REPLAY_LAST

    out = run_cli("new", "--repo", str(repo), "--name", "earlier", "--prompt", "add hello", "--script", "true", "--run")
    assert out.returncode == 0, out.stderr
    sid = out.stdout.split()[2]
    for n in range(REPLAY_LAST):
        assert run_cli("iterate", sid, "--prompt", f"more {n}").returncode == 0
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: any("Appended turn" in line for line in output_lines(app)))
        lines = output_lines(app)
        last = max(i for i, line in enumerate(lines) if line.startswith("── iteration 4 ·"))
        tail = lines[last:]
        first_words = next(i for i, line in enumerate(tail) if "I'll make the change." in line)
        tool = next(i for i, line in enumerate(tail) if "Bash" in line)
        final = next(i for i, line in enumerate(tail) if "Appended turn 4 to hello.txt." in line)
        commit = next(i for i, line in enumerate(tail) if line.startswith("● commit"))
        assert first_words < tool < final < commit
        assert any("tests passed" in line for line in tail)
        # iteration 1 is outside the replay window: its summary line from the DB, no streamed words
        first = lines[: next(i for i, line in enumerate(lines) if line.startswith("── iteration 2 ·"))]
        assert any("Created hello.txt containing hi." in line for line in first)
        assert not any("I'll make the change." in line for line in first)
