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


async def test_the_new_session_form_starts_a_best_of_run(repo: Path, tmp_path: Path) -> None:
    """The form's agents + N fields make the same group as `ampsm new --agents command --n 3`: three
    candidates, the one that passes the gate wins, and the ranked group opens."""
    from ampsm_tui.screens.new_session import NewSessionScreen

    flag = tmp_path / "winner-taken"
    cmd = f"if mkdir {flag} 2>/dev/null; then echo ok > pass.txt; else printf 'a\\nb\\n' > fail.txt; fi"
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen))
        form = app.screen
        values = {"repo": str(repo), "name": "pick", "script": "test -f pass.txt", "agent_cmd": cmd}
        values |= {"agents": "command", "n": "0"}
        for field, value in values.items():
            form.query_one(f"#{field}").value = value  # type: ignore[attr-defined]
        form.query_one("#prompt").text = "make it pass"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "N is 1 or more" in screen_text(app)  # a wrong N stops at the form
        form.query_one("#n").value = "3"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: isinstance(app.screen, BestOfScreen), tries=600)
        found = groups(_engine_like())
        assert len(found) == 1 and len(found[0].candidates) == 3
        winner = found[0].winner
        assert winner is not None and [c.passed for c in found[0].candidates] == [True, False, False]
        assert await wait_for(pilot, lambda: "★ winner" in screen_text(app), tries=200), screen_text(app)
        names = sorted(c.name for c in found[0].candidates)
        assert names == ["pick command 1", "pick command 2", "pick command 3"]


async def test_q_counts_each_running_best_of_candidate(repo: Path) -> None:
    """Quitting during a best-of run cancels every candidate's turn: `q` says how many (it said one
    for the whole run), and the candidates' agents go with the app."""
    import os
    import signal
    import uuid

    from ampsm_tui.screens.dialogs import ConfirmScreen
    from ampsm_tui.screens.new_session import NewSessionScreen

    from .tui_support import processes_with

    marker = f"ampsm-bestof-{uuid.uuid4().hex[:8]}"
    app = create_app(make_test_config(), cursor_blink=False)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press("n")
            assert await wait_for(pilot, lambda: isinstance(app.screen, NewSessionScreen))
            form = app.screen
            values = {"repo": str(repo), "name": "slow", "agent_cmd": f"exec sh -c 'sleep 600' {marker}"}
            values |= {"agents": "command", "n": "3"}
            for field, value in values.items():
                form.query_one(f"#{field}").value = value  # type: ignore[attr-defined]
            form.query_one("#prompt").text = "take your time"  # type: ignore[attr-defined]
            await pilot.press("ctrl+s")
            assert await wait_for(pilot, lambda: len(processes_with(marker)) == 3, tries=300)
            assert app.running_iterations() == 3
            await pilot.press("q")
            assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert isinstance(app.screen, ConfirmScreen)
            assert app.screen.question.startswith("3 iteration(s) running")
            await pilot.press("y")
        assert app.return_code == 0
        for _ in range(300):
            if not processes_with(marker):
                break
            await asyncio.sleep(0.1)
        assert processes_with(marker) == []
    finally:
        for pid in processes_with(marker):  # never leave an agent behind
            os.kill(pid, signal.SIGKILL)


async def test_the_batch_monitor_groups_best_of_candidates_under_their_item(tmp_path: Path) -> None:
    """A batch item with `agents:` × `bestOf:` shows as one row with its candidates under it, the winner
    starred once the batch ranked them; `enter` on that row opens the ranked group."""
    from ampsm_tui.screens.batches import BatchesScreen
    from tests.test_batch_file import make_repo

    ws = tmp_path / "ws"
    make_repo(ws / "repo")
    flag = tmp_path / "winner-taken"
    cmd = f"if mkdir {flag} 2>/dev/null; then echo ok > pass.txt; else echo no > fail.txt; fi"
    f = ws / "batch.yaml"
    f.write_text(
        "name: pick\nrepos:\n  - path: repo\nitems:\n"
        f'  - name: pick\n    prompt: make it pass\n    agents: [command]\n    bestOf: 3\n    agentCmd: "{cmd}"\n'
        "    script: test -f pass.txt\n"
        '  - name: plain\n    prompt: p\n    agent: command\n    agentCmd: "echo p > p.txt"\n'
        "concurrency: 2\n"
    )
    out = run_cli("batch", "start", "--file", str(f), "--json", timeout=300, process=True)
    assert out.returncode == 1, out.stderr + out.stdout  # two candidates fail the gate
    (group,) = groups(_engine_like())
    winner = group.winner
    assert winner is not None

    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        assert await wait_for(pilot, lambda: isinstance(app.screen, BatchesScreen))
        screen = app.screen
        assert await wait_for(pilot, lambda: f"★ winner {winner}" in screen_text(app), tries=200), screen_text(app)
        items = screen.query_one("#items")
        cells = [[str(c) for c in items.get_row_at(i)] for i in range(items.row_count)]  # type: ignore[attr-defined]
        names = [row[1].strip(" ★·") for row in cells]
        assert names == ["pick", "command 1", "command 2", "command 3", "plain"], cells
        starred = [row[7] for row in cells[1:4] if "★" in row[1]]
        assert starred == [winner], cells  # the one that passed the gate, and only it
        assert cells[0][3] == "best-of 3" and cells[0][4] == "3/3"
        items.focus()  # type: ignore[attr-defined]
        items.move_cursor(row=0)  # type: ignore[attr-defined]
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, BestOfScreen))


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


async def test_q_asks_while_the_merge_queue_lands_here(repo: Path, tmp_path: Path) -> None:
    """A land cut mid-way is data-safety relevant: `q` asks while this app's queue run is landing
    (its gate on the merged tree hangs), like it does for a running iteration."""
    import os
    import signal
    import uuid

    from ampsm_tui.screens.dialogs import ConfirmScreen

    from .tui_support import processes_with

    marker = f"ampsm-gate-{uuid.uuid4().hex[:8]}"
    hang = tmp_path / "hang"
    gate = f"test ! -f {hang} || exec sh -c 'sleep 600' {marker}"
    sid = _session(repo, "gated", "echo a > a.txt", "--script", gate)  # green on its own: no flag yet
    hang.touch()  # the gate on the merged tree hangs: the land stays under way
    app = create_app(make_test_config(), cursor_blink=False)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            _select(app, sid)
            assert await wait_for(pilot, lambda: dashboard(app).selected == sid)
            await pilot.press("u")
            assert await wait_for(pilot, lambda: isinstance(app.screen, MergeQueueScreen))
            assert await wait_for(pilot, lambda: bool(processes_with(marker)), tries=300)
            assert app.running_lands() == 1 and app.running_iterations() == 0
            await pilot.press("q")
            assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert isinstance(app.screen, ConfirmScreen)
            assert "1 merge-queue run / land under way" in app.screen.question
            await pilot.press("n")  # stay: the land goes on
            assert await wait_for(pilot, lambda: isinstance(app.screen, MergeQueueScreen))
            assert app.return_code is None and app.running_lands() == 1
            await pilot.press("q")
            assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
        assert app.return_code == 0
        assert "a.txt" not in git(repo, "ls-tree", "--name-only", "main").split()  # the base did not move
        for _ in range(300):  # the gate's process group goes with the app
            if not processes_with(marker):
                break
            await asyncio.sleep(0.1)
        assert processes_with(marker) == []
    finally:
        for pid in processes_with(marker):  # the gate is not this test's subject: never leave it behind
            os.kill(pid, signal.SIGKILL)


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
        # the selected one's ⚠ spelled out in the dashboard, above its output
        note = dashboard(app).query_one("#overlap-note")
        _select(app, one)
        assert await wait_for(pilot, lambda: dashboard(app).selected == one and bool(note.display))
        await settle(pilot)
        shown = screen_text(app)
        assert f"{OVERLAP_MARK}overlaps {two} (two) on app.py" in shown, shown
        assert "predicted conflict in app.py" in shown, shown
        _select(app, alone)
        assert await wait_for(pilot, lambda: dashboard(app).selected == alone and not note.display)
        assert "predicted conflict" not in screen_text(app)

        _select(app, two)
        assert await wait_for(pilot, lambda: dashboard(app).selected == two)
        await pilot.press("m")  # before landing: the overlap and the predicted conflict
        assert await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        assert await wait_for(pilot, lambda: "predicted conflict in app.py" in screen_text(app), tries=200)
        assert f"overlaps {one} (one) on app.py" in screen_text(app)
