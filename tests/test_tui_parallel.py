"""Parallel agents in the TUI (issue 19): best-of candidates side by side with the winner landed from
there (the others archived), the merge queue live as another process runs it, and live sessions
editing one file flagged in the sessions list and before landing with the predicted conflict.

The real app and engine on a real repo and DB; sessions are made by the real `ampsm` with the
command agent, exactly as a user would from another shell.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from ampsm_tui.app import create_app
from ampsm_tui.engine.bestof import groups
from ampsm_tui.engine.models import SessionStatus
from ampsm_tui.screens.best_of import BestOfScreen
from ampsm_tui.screens.merge_queue import MergeQueueScreen
from ampsm_tui.screens.review import ReviewScreen
from ampsm_tui.widgets.session_list import OVERLAP_MARK, SessionTable

from .conftest import git, run_cli
from .tui_support import dashboard, make_test_config, screen_text, settle, wait_for

pytestmark = pytest.mark.tui


def _session(repo: Path, name: str, cmd: str, *extra: str) -> str:
    out = run_cli(
        "new", "--repo", str(repo), "--name", name, "--agent", "command", "--agent-cmd", cmd,
        "--prompt", f"do {name}", "--run", "--json", *extra,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    return str(json.loads(out.stdout)["id"])


def _select(app: object, session_id: str) -> None:
    table = dashboard(app).query_one(SessionTable)
    table.move_cursor(row=table.get_row_index(session_id))


async def test_best_of_candidates_side_by_side_and_landing_the_winner_archives_the_others(
    repo: Path, tmp_path: Path
) -> None:
    flag = tmp_path / "winner-taken"
    cmd = f"if mkdir {flag} 2>/dev/null; then echo ok > pass.txt; else printf 'a\\nb\\nc\\n' > fail.txt; fi"
    out = run_cli(
        "new", "--repo", str(repo), "--name", "pick", "--prompt", "make it pass", "--agents", "command",
        "--agent-cmd", cmd, "--n", "3", "--script", "test -f pass.txt", "--json", timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    group = json.loads(out.stdout)
    winner, *others = [c["session_id"] for c in group["candidates"]]

    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        _select(app, others[0])  # any candidate opens its group
        assert await wait_for(pilot, lambda: dashboard(app).selected == others[0])
        await pilot.press("w")
        assert await wait_for(pilot, lambda: isinstance(app.screen, BestOfScreen))
        screen = app.screen
        assert isinstance(screen, BestOfScreen)
        assert await wait_for(pilot, lambda: "winner" in screen_text(app))
        await settle(pilot)
        text = screen_text(app)
        rows = [line for line in text.splitlines() if "pick command" in line and "Diff" not in line]
        assert len(rows) == 3, text
        assert "1★" in rows[0] and "pass" in rows[0] and "+1 −0 1f" in rows[0], rows
        assert all("fail 1" in row and "★" not in row for row in rows[1:]), rows
        assert "Best-of 3" in text and "make it pass" in text
        assert "pass.txt" in text  # the highlighted (winning) candidate's diff

        await pilot.press("m")  # review and land the highlighted candidate: the winner
        assert await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        review = app.screen
        assert isinstance(review, ReviewScreen) and review.session_id == winner
        assert await wait_for(pilot, lambda: review.session is not None)
        await pilot.press("ctrl+g")
        assert await wait_for(pilot, lambda: review.finished, tries=300), screen_text(app)
        assert await wait_for(pilot, lambda: "archived the others (restorable)" in screen_text(app))
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: app.screen is screen)
        assert await wait_for(pilot, lambda: "landed; the others are archived" in screen_text(app))
        text = screen_text(app)
        assert (
            sum("archived" in line for line in text.splitlines() if "pick command" in line and "Diff" not in line) == 2
        ), text

    assert git(repo, "show", "main:pass.txt") == "ok"
    for sid in others:  # archived, kept: restorable
        session = await _status(sid)
        assert session == SessionStatus.ARCHIVED.value
    assert [g.landed for g in groups(_engine_like())] == [winner]
    assert run_cli("restore", others[0]).returncode == 0


async def _status(session_id: str) -> str:
    out = await asyncio.to_thread(run_cli, "status", session_id, "--json")
    return str(json.loads(out.stdout)["session"]["status"])


def _engine_like() -> object:
    """What `groups()` needs: the config (the group files live beside it)."""
    from types import SimpleNamespace

    return SimpleNamespace(config=make_test_config())


async def test_the_merge_queue_is_live_while_another_process_runs_it(repo: Path) -> None:
    first = _session(repo, "add a", "echo a > a.txt")
    two = _session(repo, "readme two", "printf 'two\\n' > README.md")
    three = _session(repo, "readme three", "printf 'three\\n' > README.md")  # conflicts once two landed

    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        _select(app, first)
        assert await wait_for(pilot, lambda: dashboard(app).selected == first)
        await pilot.press("u")  # queue the selected session: it lands, the queue shows it
        assert await wait_for(pilot, lambda: isinstance(app.screen, MergeQueueScreen))
        queue = app.screen
        assert isinstance(queue, MergeQueueScreen)
        assert await wait_for(pilot, lambda: [e.status for e in queue.entries] == ["landed"], tries=300)
        assert "✓ landed" in screen_text(app)

        # another shell (a real second process) queues two more; the screen follows its run
        other = asyncio.create_task(asyncio.to_thread(run_cli, "queue", "add", two, three, timeout=300, process=True))
        assert await wait_for(pilot, lambda: len(queue.entries) == 3, tries=300)
        done = await other
        assert done.returncode == 1, done.stderr + done.stdout  # one was taken out
        assert await wait_for(
            pilot, lambda: [e.status for e in queue.entries] == ["landed", "landed", "removed"], tries=300
        )
        table = queue.query_one("#queue-entries")
        table.move_cursor(row=2)  # type: ignore[attr-defined]  # the one taken out: its reason in full
        await settle(pilot)
        text = screen_text(app)
        assert "✗ removed" in text and "2 landed · 1 removed" in text, text
        assert f"{three} " in text and "conflict: rebase conflicts in README.md" in text, text
        assert "branch kept at" in text

    assert git(repo, "show", "main:README.md") == "two"
    assert git(repo, "show", "main:a.txt") == "a"


async def test_two_live_sessions_editing_one_file_are_flagged_with_the_predicted_conflict(repo: Path) -> None:
    one = _session(repo, "one", "printf 'def add(a, b):\\n    return a + b + 1\\n' > app.py")
    two = _session(repo, "two", "printf 'def add(a, b):\\n    return a + b + 2\\n' > app.py")
    alone = _session(repo, "alone", "echo x > other.txt")

    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(SessionTable)
        assert await wait_for(pilot, lambda: set(table.overlaps) == {one, two}, tries=200), table.overlaps
        assert "predicted conflict in app.py" in table.overlaps[one]
        lines = screen_text(app).splitlines()
        for name in ("one", "two"):
            assert any(f"{OVERLAP_MARK}{name} " in line for line in lines), lines
        assert not any(f"{OVERLAP_MARK}alone" in line for line in lines)
        assert alone not in table.overlaps

        _select(app, two)
        assert await wait_for(pilot, lambda: dashboard(app).selected == two)
        await pilot.press("m")  # before landing: the overlap and the predicted conflict
        assert await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        assert await wait_for(pilot, lambda: "predicted conflict in app.py" in screen_text(app), tries=200)
        assert f"overlaps {one} (one) on app.py" in screen_text(app)
