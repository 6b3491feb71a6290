"""Pilot tests of the screens: session detail (push/pop, timeline), batches → session, chat with the
fake amp (multi-turn on one thread), filter, command palette, output pane, repo path completion."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input

from ampsm_tui import actions
from ampsm_tui.app import AmpsmApp, create_app
from ampsm_tui.engine.models import BatchItem, BatchRun
from ampsm_tui.screens.batches import BatchesScreen
from ampsm_tui.screens.chat import ChatScreen
from ampsm_tui.screens.dashboard import DashboardScreen
from ampsm_tui.screens.help import HelpScreen
from ampsm_tui.screens.new_session import NewSessionScreen
from ampsm_tui.screens.session import SessionScreen
from ampsm_tui.widgets.output_log import OutputLog
from ampsm_tui.widgets.path_suggester import DirectorySuggester
from ampsm_tui.widgets.session_list import SessionTable, parse_filter
from ampsm_tui.widgets.timeline import Timeline

from .tui_support import (
    dashboard,
    fixed_clock,
    make_test_config,
    open_store,
    seed_every_status,
    settle,
    stand_in_factory,
    use_fakes,
    wait_for,
)

pytestmark = pytest.mark.tui


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_fakes(monkeypatch, tmp_path / "fake-state")


async def seeded_app() -> AmpsmApp:
    config = make_test_config()
    store = await open_store(config)
    try:
        await seed_every_status(store)
    finally:
        await store.close()
    return create_app(config, engine_factory=stand_in_factory, clock=fixed_clock, cursor_blink=False)


# -- session detail ------------------------------------------------------------------------------


async def test_session_screen_push_pop_twice_and_timeline(repo: Path) -> None:
    """enter opens the detail screen; escape closes it without a crash in its teardown (twice, so a
    view left attached to the transcripts would show up too); the timeline lists every iteration."""
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        session = await app.engine.sessions.create(repo=repo, name="detail", prompt="say hi")
        await app.engine.sessions.iterate(session.id)
        await app.engine.sessions.iterate(session.id, "again")
        dashboard(app).reload()
        await settle(pilot)
        for _ in range(2):
            await pilot.press("enter")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, SessionScreen)
            timeline = screen.query_one(Timeline)
            assert timeline.row_count == 2
            iterations = await app.store.list_iterations(session.id)
            assert [str(timeline.get_row(str(it.number))[2]) for it in iterations] == [
                (it.commit_sha or "")[:8] for it in iterations
            ]
            output = screen.query_one(OutputLog)
            output.flush()
            assert any("iteration 2" in line for line in output.plain_lines)
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, DashboardScreen)
            assert output not in app.transcripts._sinks.get(session.id, [])
    assert app.return_code in (None, 0)


async def test_batches_open_session_message_opens_the_session_once(repo: Path) -> None:
    app = create_app(make_test_config(), cursor_blink=False)
    messages: list[Any] = []
    async with app.run_test(size=(140, 40), message_hook=messages.append) as pilot:
        await settle(pilot)
        session = await app.engine.sessions.create(repo=repo, name="from-batch", prompt="x")
        run = BatchRun(id="batch-1", name="nightly", status="running")
        item = BatchItem(
            id="bitem-1", batch_id=run.id, ordinal=0, name="one", repo_path=str(repo), base_branch="main", prompt="x"
        )
        await app.store.create_batch(run, [item])
        await app.store.update_batch_item(item.id, session_id=session.id, status="succeeded")
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, BatchesScreen)
        app.screen.query_one("#items", DataTable).focus()
        await pilot.press("enter")
        await settle(pilot)
        opened = {id(m): m.session_id for m in messages if isinstance(m, BatchesScreen.OpenSession)}
        assert list(opened.values()) == [session.id]
        # the screen's own fallback push is off (on_open is a no-op): this screen is the app's doing
        assert isinstance(app.screen, SessionScreen) and app.screen.session_id == session.id
        assert sum(isinstance(s, SessionScreen) for s in app.screen_stack) == 1
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, BatchesScreen)


# -- chat ----------------------------------------------------------------------------------------


async def test_chat_two_messages_continue_one_thread(
    repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "agent-log.jsonl"
    monkeypatch.setenv("FAKE_AGENT_LOG", str(log))
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        session = await app.engine.sessions.create(repo=repo, name="chatty", prompt="")
        dashboard(app).reload()
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        for n, text in enumerate(["write hello", "now add a turn"], start=1):
            await pilot.press(*text)
            await pilot.press("ctrl+s")
            assert await wait_for(pilot, lambda n=n: log.exists() and len(log.read_text().splitlines()) >= n)
            await settle(pilot)
            assert await wait_for(pilot, lambda: app.running_iterations() == 0)
            await settle(pilot)
        lines = chat.query_one(OutputLog)
        lines.flush()
        shown = lines.plain_lines
        assert "you › write hello" in shown and "you › now add a turn" in shown
        assert "Created hello.txt containing hi." in shown
        assert "Appended turn 2 to hello.txt." in shown
        calls = [json.loads(line) for line in log.read_text().splitlines()]
        assert [c["continued"] for c in calls] == [False, True]
        thread = calls[0]["thread_id"]
        assert calls[1]["thread_id"] == thread
        assert calls[1]["argv"][:3] == ["threads", "continue", thread], calls[1]["argv"]
        stored = await app.store.get_session(session.id)
        assert stored is not None and stored.thread_id == thread
        assert thread in str(chat.query_one("#chat-title").render())
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)


# -- filter ----------------------------------------------------------------------------------------


def test_parse_filter() -> None:
    assert parse_filter("") == ([], [])
    assert parse_filter("Login status:awaiting-input") == (["login"], ["awaiting-input"])
    assert parse_filter("is:error,running s:idle web") == (["web"], ["error", "running", "idle"])
    assert parse_filter("status:") == (["status:"], [])


async def test_slash_filters_by_text_and_status() -> None:
    app = await seeded_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        table = dashboard(app).query_one(SessionTable)
        assert table.row_count == 7
        await pilot.press("slash")
        assert dashboard(app).query_one("#filter", Input).has_focus
        await pilot.press(*"status:awaiting-input")
        await settle(pilot)
        assert [r.session.name for r in table.visible_rows()] == ["fix-login-bug"]
        assert table.row_count == 1
        await pilot.press("enter")  # keeps the filter, back to the list
        await settle(pilot)
        assert table.has_focus and table.row_count == 1
        assert "status:awaiting-input" in str(dashboard(app).query_one("#summary").render())
        await pilot.press("slash")
        dashboard(app).query_one("#filter", Input).value = ""
        await pilot.press(*"parser")
        await settle(pilot)
        assert [r.session.name for r in table.visible_rows()] == ["refactor-parser"]
        await pilot.press("escape")  # clears
        await settle(pilot)
        assert table.row_count == 7


# -- command palette -------------------------------------------------------------------------------


async def test_palette_lists_every_applicable_action_and_runs_one() -> None:
    app = await seeded_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        wanted = [a for a in actions.ACTIONS if a.palette and a.context in ("app", "dashboard", "output")]
        for action in wanted:
            assert f"{action.description} ({action.display_keys})" in titles, action.id
        # actions of other screens are not offered here
        assert not any(t.startswith("Next file") for t in titles)
        help_command = next(c for c in app.get_system_commands(app.screen) if c.title.startswith("Help ("))
        await help_command.callback()  # the palette awaits it the same way (call_later)
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)


async def test_palette_opens_with_ctrl_p() -> None:
    from textual.command import CommandPalette

    app = await seeded_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        assert await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Batches (b")
        await pilot.pause(0.3)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, BatchesScreen))


# -- output pane -------------------------------------------------------------------------------------


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield OutputLog(id="log", max_lines=100, flush_interval=3600)


async def test_a_hint_gives_way_to_the_first_real_output() -> None:
    """The "No iterations yet" hint is shown until the session's first line arrives, then it is gone: a
    live iteration never streams below a stale hint."""
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        log = app.query_one(OutputLog)
        log.feed_line("hint", "No iterations yet: i runs the agent, c starts a chat.")
        log.flush()
        await pilot.pause()
        assert log.plain_lines == ["No iterations yet: i runs the agent, c starts a chat."]
        log.feed_line("marker", "── iteration 1 · amp ──")
        log.feed({"kind": "text", "text": "I'll start by reading the project."})
        log.flush()
        await pilot.pause()
        assert log.plain_lines == ["── iteration 1 · amp ──", "I'll start by reading the project."]
        log.feed_line("hint", "a later hint stays below real output")
        log.flush()
        assert log.plain_lines[-1] == "a later hint stays below real output" and log.line_count == 3


async def test_output_log_caps_lines_and_follows_the_tail() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        log = app.query_one(OutputLog)
        for n in range(500):
            log.feed_line("text", f"line {n}")
        log.flush()
        await pilot.pause()
        assert log.line_count == 100 and log.total_lines == 500
        assert log.plain_lines[0] == "line 400" and log.plain_lines[-1] == "line 499"
        assert log.is_vertical_scroll_end  # followed the tail
        # the user scrolls up: new output no longer moves the view
        log.scroll_to(y=10, animate=False, immediate=True)
        await pilot.pause()
        log.feed({"kind": "text", "text": "more\nand more"})
        log.flush()
        await pilot.pause()
        assert log.scroll_offset.y == 10 and not log.is_vertical_scroll_end
        assert log.plain_lines[-2:] == ["more", "and more"] and log.line_count == 100
        # G follows again
        log.action_follow()
        await pilot.pause()
        log.feed_line("text", "newest")
        log.flush()
        await pilot.pause()
        assert log.is_vertical_scroll_end and log.plain_lines[-1] == "newest"
        # very long lines are cut; escape sequences never reach the screen
        log.feed_line("text", "\x1b[31mred\x1b[0m" + "x" * 5000)
        log.flush()
        assert log.plain_lines[-1].startswith("redxxx") and len(log.plain_lines[-1]) <= 1001


async def test_output_log_tool_calls_fold_and_expand() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        log = app.query_one(OutputLog)
        log.feed({"kind": "thinking", "text": "a\nb\nc"})
        log.feed({"kind": "tool_call", "id": "t1", "name": "Bash", "input": {"command": "pytest -q"}})
        log.feed({"kind": "tool_result", "tool_use_id": "t1", "content": "4 passed", "is_error": False})
        log.flush()
        await pilot.pause()
        assert log.plain_lines == ["… thinking (3 lines, e to expand)", "⚙ Bash  pytest -q ✓"]
        log.action_toggle_details()
        assert log.plain_lines[:3] == ["a", "b", "c"] and "    → 4 passed" in log.plain_lines


# -- repo path completion ------------------------------------------------------------------------------


async def test_directory_suggester(tmp_path: Path) -> None:
    (tmp_path / "alpha-plain").mkdir()
    (tmp_path / "alpha-repo" / ".git").mkdir(parents=True)
    (tmp_path / "beta").mkdir()
    (tmp_path / "bfile").write_text("not a dir")
    (tmp_path / ".hidden").mkdir()
    suggester = DirectorySuggester()
    assert await suggester.get_suggestion(f"{tmp_path}/al") == f"{tmp_path}/alpha-repo/"  # git repos first
    assert await suggester.get_suggestion(f"{tmp_path}/alpha-p") == f"{tmp_path}/alpha-plain/"
    assert await suggester.get_suggestion(f"{tmp_path}/b") == f"{tmp_path}/beta/"  # directories only
    assert await suggester.get_suggestion(f"{tmp_path}/") == f"{tmp_path}/alpha-repo/"  # no hidden ones
    assert await suggester.get_suggestion(f"{tmp_path}/.h") == f"{tmp_path}/.hidden/"
    assert await suggester.get_suggestion(f"{tmp_path}/zzz") is None
    assert await suggester.get_suggestion(f"{tmp_path}/nope/x") is None


async def test_repo_field_completes_with_right_arrow(tmp_path: Path) -> None:
    (tmp_path / "projects" / "webapp" / ".git").mkdir(parents=True)
    app = await seeded_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, NewSessionScreen)
        box = form.query_one("#repo", Input)
        box.value = ""
        box.focus()
        await pilot.press(*f"{tmp_path}/projects/we")
        assert await wait_for(pilot, lambda: box._suggestion == f"{tmp_path}/projects/webapp/")
        await pilot.press("right")
        assert box.value == f"{tmp_path}/projects/webapp/"


async def test_form_created_session_becomes_the_selected_one(repo: Path) -> None:
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for name in ("older-one", "older-two"):
            await app.engine.sessions.create(repo=repo, name=name, prompt="x")
        dashboard(app).reload()
        await settle(pilot)
        await pilot.press("j")
        await settle(pilot)
        assert dashboard(app).selected is not None
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, NewSessionScreen)
        assert form.has_class("-compact")  # 80x24: borderless fields so the whole form fits
        form.query_one("#repo", Input).value = str(repo)
        form.query_one("#name", Input).value = "newest"
        form.query_one("#run_now").value = False  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await settle(pilot)
        created = [s for s in await app.store.list_sessions() if s.name == "newest"]
        assert dashboard(app).selected == created[0].id
        # the footer starts with quit and help, so 80 columns never cut them off
        text = "".join(str(c.render()) for c in dashboard(app).query_one("Footer").children)
        assert text.index("Quit") < text.index("Help") < text.index("New")


async def test_a_reload_during_the_first_load_still_fills_the_output(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A change that arrives while the detail screen reads its history (a loaded machine, a busy
    DB) cancels that first load; the reload must still fill the output pane, not leave it empty
    because the first load had already marked it attached."""
    import ampsm_tui.screens.session as session_screen

    slow_reads: list[int] = []
    real_past_output = session_screen.past_output

    def slow_past_output(*args: Any) -> Any:
        slow_reads.append(1)
        if len(slow_reads) == 1:
            time.sleep(0.5)
        return real_past_output(*args)

    monkeypatch.setattr(session_screen, "past_output", slow_past_output)
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        session = await app.engine.sessions.create(repo=repo, name="detail", prompt="say hi")
        await app.engine.sessions.iterate(session.id)
        await settle(pilot)
        screen = SessionScreen(session.id)
        await app.push_screen(screen)
        assert await wait_for(pilot, lambda: len(slow_reads) == 1)
        screen.load()  # the change: cancels the first load in its read
        await settle(pilot)
        output = screen.query_one(OutputLog)
        output.flush()
        assert any("iteration 1" in line for line in output.plain_lines)


async def test_chat_reload_during_the_first_load_still_shows_the_history(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chat screen's history is read once; a reload that cancels that read must read it again."""
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        session = await app.engine.sessions.create(repo=repo, name="talk", prompt="say hi")
        await app.engine.sessions.iterate(session.id)
        await settle(pilot)
        real_list = app.store.list_iterations
        calls: list[int] = []

        async def slow_list(session_id: str) -> Any:
            calls.append(1)
            if len(calls) == 1:
                await asyncio.sleep(0.5)
            return await real_list(session_id)

        monkeypatch.setattr(app.store, "list_iterations", slow_list)
        screen = ChatScreen(session.id)
        await app.push_screen(screen)
        assert await wait_for(pilot, lambda: len(calls) == 1)
        screen.load()
        await settle(pilot)
        log = screen.query_one(OutputLog)
        log.flush()
        assert any("say hi" in line for line in log.plain_lines)


async def test_dashboard_change_during_the_detail_load_still_fills_the_output(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Selecting a session reads its history into the output pane; a change that arrives during
    that read (and cancels it) must not leave the pane empty and unattached to the live stream."""
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        first = await app.engine.sessions.create(repo=repo, name="first", prompt="say hi")
        await app.engine.sessions.iterate(first.id)
        second = await app.engine.sessions.create(repo=repo, name="second", prompt="say bye")
        await app.engine.sessions.iterate(second.id)
        board = dashboard(app)
        board.reload()
        await settle(pilot)
        real_calls = app.store.list_tool_calls
        calls: list[int] = []

        async def slow_calls(**kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                await asyncio.sleep(0.5)
            return await real_calls(**kwargs)

        monkeypatch.setattr(app.store, "list_tool_calls", slow_calls)
        other = first.id if board.selected == second.id else second.id
        board._select(other)
        assert await wait_for(pilot, lambda: len(calls) == 1)
        board.load_detail(other, reset_output=False)  # the change
        await settle(pilot)
        output = board.query_one(OutputLog)
        output.flush()
        prompt = "say hi" if other == first.id else "say bye"
        assert any(prompt in line for line in output.plain_lines)
        assert output in app.transcripts._sinks.get(other, [])


async def test_a_reload_keeps_the_timelines_rows_and_selected_row() -> None:
    """The session screen reloads on every change in the DB: a reload that changes nothing leaves
    the table as it is (the selected row was lost to a rebuild, and the columns were left at their
    header widths until the table's next idle); one that adds a row keeps the selection."""
    from ampsm_tui.engine.models import Iteration, IterationStatus
    from ampsm_tui.widgets.timeline import Timeline

    def its(n: int) -> list[Iteration]:
        return [
            Iteration(session_id="sess-1", number=i, status=IterationStatus.COMPLETED, prompt=f"step {i}")
            for i in range(1, n + 1)
        ]

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield Timeline(id="t")

    async with One().run_test(size=(100, 20)) as pilot:
        table = pilot.app.query_one(Timeline)
        table.show(its(3))
        await pilot.pause()
        table.move_cursor(row=2)
        await pilot.pause()
        cleared: list[int] = []
        original = table.clear
        table.clear = lambda *a, **k: cleared.append(1) or original(*a, **k)  # type: ignore[method-assign]
        table.show(its(3))  # nothing changed
        assert cleared == [] and table.cursor_row == 2
        table.show(its(4))  # a new iteration
        await pilot.pause()
        assert cleared == [1] and table.row_count == 4 and table.cursor_row == 2
