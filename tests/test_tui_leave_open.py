"""Issue 16, "the dashboard you can leave open": one Pilot test per numbered defect (1 is in
test_tui_dashboard_live.py). The stand-in engine serves layout tests (fixed diff text); whatever
touches git or another process uses the real engine on a real repo."""

from __future__ import annotations

import asyncio
import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent

from ampsm_tui import actions
from ampsm_tui.app import AmpsmApp, create_app
from ampsm_tui.engine.models import Iteration
from ampsm_tui.screens.dashboard import DashboardScreen
from ampsm_tui.widgets.session_list import SessionTable

from .conftest import ROOT, run_cli
from .tui_support import (
    FIXED_NOW,
    make_test_config,
    open_store,
    screen_text,
    seed_async,
    settle,
    stand_in_factory,
    use_fakes,
    wait_for,
)

pytestmark = pytest.mark.tui


class Clock:
    """A clock the test moves by hand (no sleeping, no timing assertion)."""

    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self) -> Any:
        return self.now


async def seeded_app(*, clock: Any = None, batch: bool = False) -> AmpsmApp:
    config = make_test_config()
    config.ui.theme = "gruvbox"
    await seed_async(config, batch=batch)
    return create_app(config, engine_factory=stand_in_factory, clock=clock or Clock(), cursor_blink=False)


def dash(app: AmpsmApp) -> DashboardScreen:
    screen = app.screen
    assert isinstance(screen, DashboardScreen), type(screen)
    return screen


def cell(table: DataTable[Any], row: str, col: str) -> str:
    value = table.get_cell(row, col)
    return getattr(value, "plain", str(value))


# -- 2: a merged session's diff ---------------------------------------------------------------------


async def test_defect2_merged_session_diff_is_what_the_merge_landed(repo: Path) -> None:
    out = run_cli(
        "new", "--repo", str(repo), "--name", "landed", "--agent", "command",
        "--agent-cmd", "sh -c 'echo merged-line >> app.py'", "--run", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    sid = json.JSONDecoder().raw_decode(out.stdout)[0]["id"]
    merged = run_cli("merge", sid)
    assert merged.returncode == 0, merged.stderr
    diff = run_cli("diff", sid)
    assert diff.returncode == 0, diff.stderr  # was: E004 worktree … is missing
    assert "+merged-line" in diff.stdout
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        text = screen_text(app)
        assert "merged as " in text and "+merged-line" in text, text


# -- 3: the demo's interrupted session continues --------------------------------------------------


def test_defect3_demo_agent_thread_survives_an_interrupted_turn(tmp_path: Path, repo: Path) -> None:
    """A demo turn stopped midway used to leave no thread: the next turn failed with "thread not found"."""
    import subprocess
    import sys

    env = {**os.environ, "AMPSM_DEMO_SPEED": "1"}
    argv = [sys.executable, "-m", "ampsm_tui.demo.agent", "--execute", "fix the failing test", "--stream-json"]
    proc = subprocess.Popen(argv, cwd=repo, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    init = json.loads(proc.stdout.readline())  # the first line names the thread; then stop the turn
    proc.kill()
    proc.wait()
    tid = init["session_id"]
    again = subprocess.run(
        [sys.executable, "-m", "ampsm_tui.demo.agent", "threads", "continue", tid, "--execute", "go on"],
        cwd=repo, env={**env, "AMPSM_DEMO_SPEED": "0"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "not found" not in again.stderr


async def test_defect3_thread_gone_offers_a_fresh_thread(
    repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_fakes(monkeypatch, tmp_path / "fake-state")
    out = run_cli("new", "--repo", str(repo), "--name", "lost", "--prompt", "say hi", "--run", "--json")
    assert out.returncode == 0, out.stderr
    sid = json.JSONDecoder().raw_decode(out.stdout)[0]["id"]
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await app.store.update_session(sid, thread_id="T-00000000-gone")
        screen = dash(app)
        screen._iterate(sid, None)
        from ampsm_tui.screens.dialogs import ConfirmScreen

        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), tries=200), screen_text(app)
        assert "thread is gone" in app.screen.question  # type: ignore[attr-defined]
        await pilot.press("y")

        async def two_iterations_ok() -> bool:
            its = await app.store.list_iterations(sid)
            return len(its) == 3 and its[-1].status.value == "completed"

        assert await wait_for(pilot, two_iterations_ok, tries=300)
        session = await app.store.get_session(sid)
        assert session is not None and session.thread_id and session.thread_id != "T-00000000-gone"


# -- 4: the selection survives resizes across the breakpoint ----------------------------------------


async def test_defect4_selection_and_scroll_kept_across_resizes() -> None:
    app = await seeded_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        table = dash(app).query_one(SessionTable)
        table.move_cursor(row=4)
        await settle(pilot)
        chosen = dash(app).selected
        assert chosen is not None and chosen == table.selected_id
        for size in ((100, 30), (80, 24), (200, 50), (120, 40)):
            await pilot.resize_terminal(*size)
            await settle(pilot)
            assert table.selected_id == chosen, size
            assert dash(app).selected == chosen, size


# -- 5: the clock ticks -----------------------------------------------------------------------------


async def test_defect5_ages_elapsed_and_spinner_tick_and_running_test_is_its_own() -> None:
    clock = Clock()
    config = make_test_config()
    await seed_async(config)
    store = await open_store(config)
    started = (FIXED_NOW - timedelta(seconds=65)).isoformat().replace("+00:00", "Z")
    await store.create_iteration(Iteration(session_id="sess-00000000", number=9, status="running", started_at=started))
    await store.close()
    app = create_app(config, engine_factory=stand_in_factory, clock=clock, cursor_blink=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        table = dash(app).query_one(SessionTable)
        running, idle = "sess-00000000", "sess-00000004"
        assert cell(table, running, "age") == "1m 05s"
        assert cell(table, running, "test") == "…"  # not the previous iteration's "pass"
        assert cell(table, idle, "age") == "5h"
        spin = cell(table, running, "status")
        clock.now = FIXED_NOW + timedelta(seconds=10, milliseconds=300)
        assert await wait_for(pilot, lambda: cell(table, running, "age") == "1m 15s")
        assert cell(table, running, "status") != spin
        clock.now = FIXED_NOW + timedelta(hours=2)
        assert await wait_for(pilot, lambda: cell(table, idle, "age") == "7h")


# -- 6 and 7: 80x24 and the width used --------------------------------------------------------------


async def test_defect6_80x24_header_filter_detail_and_footer_fit() -> None:
    app = await seeded_app(batch=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await pilot.press(*"refactor")
        await pilot.press("enter")
        await settle(pilot)
        header = str(dash(app).query_one("#summary", Static).render())
        assert "sort newest" in header and "filter “refactor”" in header, header
        box = dash(app).query_one("#filter", Input)
        assert box.size.height == 1  # was 3 of the ~10 rows of the list
        footer = dash(app).query_one(Footer)
        for key in footer.query("FooterKey"):
            assert key.region.right <= 80, key  # no key cut ("x Cance")
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("enter")  # the session detail at 80x24
        await settle(pilot)
        timeline = app.screen.query_one("#session-timeline", DataTable)
        assert timeline.row_count and timeline.scrollable_content_region.height >= 2, timeline.size


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)])
async def test_defect7_columns_fit_without_horizontal_scroll_and_grow(size: tuple[int, int]) -> None:
    app = await seeded_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        table = dash(app).query_one(SessionTable)
        keys = [str(c.key.value) for c in table.ordered_columns]
        for needed in ("status", "name", "tokens", "cost", "age"):
            assert needed in keys, keys
        assert table.virtual_size.width <= table.scrollable_content_region.width, (table.virtual_size, table.size)
        name_width = table.columns[table.ordered_columns[1].key].width
        if size[0] >= 200:
            assert "branch" in keys and name_width >= 24
            assert cell(table, "sess-00000001", "name") == "fix-login-bug"
        if size[0] == 80:
            assert name_width >= 20


# -- 8: vim keys, tab keys, the diff header ---------------------------------------------------------


async def test_defect8_vim_keys_in_lists_diff_and_help_and_tab_keys() -> None:
    app = await seeded_app()
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        table = dash(app).query_one(SessionTable)
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("home", "j", "j", "k")
        assert table.cursor_row == 1
        await pilot.press("2")
        assert dash(app).query_one(TabbedContent).active == "tab-timeline"
        await pilot.press("3")
        assert dash(app).query_one(TabbedContent).active == "tab-metrics"
        await pilot.press("1")
        assert dash(app).query_one(TabbedContent).active == "tab-diff"
        await pilot.press("d")
        await settle(pilot)
        title = str(app.screen.query_one("#diff-title", Static).render())
        assert title.startswith("app.py  +5 -1  ·  file 1/3") and "3 files +11 -1" in title, title
        body = app.screen.query_one("#diff-scroll")
        await pilot.press("tab")  # from the file list to the body
        await pilot.press("j", "j")
        assert body.scroll_y == 0 or app.screen.focused is not None
        await pilot.press("escape", "question_mark")
        await settle(pilot)
        help_scroll = app.screen.query_one("#help")
        await pilot.press("j", "j", "j")
        assert help_scroll.scroll_y == 3
        await pilot.press("G")
        assert help_scroll.scroll_y == help_scroll.max_scroll_y > 3
        await pilot.press("g")
        assert help_scroll.scroll_y == 0


async def test_defect8_j_scrolls_the_diff_body() -> None:
    from ampsm_tui.screens.diff import DiffScreen

    app = await seeded_app()
    async with app.run_test(size=(100, 12)) as pilot:
        await settle(pilot)
        app.engine.sessions.diff_text = (
            "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -0,0 +1,60 @@\n"
            + "".join(f"+line {n}\n" for n in range(60))
        )
        await app.push_screen(DiffScreen("sess-00000000"))
        await settle(pilot)
        body = app.screen.query_one("#diff-scroll")
        body.focus()
        await pilot.press("j", "j")
        assert body.scroll_y == 2
        await pilot.press("ctrl+d")
        assert body.scroll_y > 2
        await pilot.press("G")
        assert body.scroll_y == body.max_scroll_y


# -- 9: the form's repo, the DB named, `make run` --------------------------------------------------


async def test_defect9_form_remembers_last_repo_never_ampsm_checkout(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ampsm_tui.screens.new_session import NewSessionScreen

    monkeypatch.chdir(ROOT)  # `make run` starts in ampsm's own checkout
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        assert f"db {app.config.db_path}" in screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, NewSessionScreen)
        assert app.screen.query_one("#repo", Input).value == ""
        app.screen.query_one("#repo", Input).value = str(repo)
        app.screen.query_one("#name", Input).value = "remembered"
        app.screen.query_one("#run_now").value = False  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert app.screen.query_one("#repo", Input).value == str(repo.resolve())
    assert "last_repo" in (app.config.config_dir / "ui-state.json").read_text()


def test_defect9_make_run_says_how_to_reach_the_demo_before_opening() -> None:
    from ampsm_tui.commands import demo

    source = Path(demo.__file__).read_text()
    before_tui = source[: source.index("run_demo_tui(config")]
    assert "AMPSM_CONFIG_DIR=" in before_tui.split("from ..demo.tui import run_demo_tui")[-1]


# -- 10: one token and cost vocabulary --------------------------------------------------------------


async def test_defect10_one_session_shows_one_token_total_and_one_cost_everywhere() -> None:
    from ampsm_tui import format as fmt

    app = await seeded_app(batch=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        sid = "sess-00000001"  # two iterations: in 1200+2400, out 340+680, $0.0125 + $0.0250
        table = dash(app).query_one(SessionTable)
        table.move_cursor(row=[r.session.id for r in table.visible_rows()].index(sid))
        await settle(pilot)
        expected_tokens = fmt.tokens(3600 + 1020)
        assert cell(table, sid, "tokens") == expected_tokens == "4.6k"
        assert cell(table, sid, "cost") == "$0.0375"
        await pilot.press("3")
        await settle(pilot)
        metrics = str(dash(app).query_one("#metrics", Static).render())
        assert f"Tokens       {expected_tokens} (in 3.6k · out 1.0k)" in metrics, metrics
        assert "Cost         $0.0375" in metrics, metrics
        await pilot.press("enter")
        await settle(pilot)
        text = screen_text(app)
        assert "$0.0375" in text and expected_tokens in text, text


def test_defect10_one_formatter_for_both_faces() -> None:
    from ampsm_tui import format as fmt

    assert fmt.cost(None, unpriced=2) == "unpriced" and fmt.cost(None) == "–"
    assert fmt.cost(0.01431) == "$0.0143" and fmt.cost(12.5) == "$12.50"
    assert fmt.cost(0.5, unpriced=1) == "$0.5000 (+1 unpriced)" and fmt.cost(0.5, unpriced=1, short=True) == "$0.5000+?"
    assert fmt.token_split(1200, 340, 5100) == "in 1.2k · out 340 · cache 5.1k"
    assert fmt.plural(1, "file") == "1 file" and fmt.plural(3, "file") == "3 files"
    assert fmt.duration(65) == "1m 05s" and fmt.age(7200) == "2h"
    # no copies left: nobody else formats a cost with "unpriced" by hand
    copies = []
    for path in (ROOT / "ampsm_tui").rglob("*.py"):
        if "engine" in path.parts or path.name == "format.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r'"unpriced" if|else "unpriced"|cost_usd\W*:\.\df', line):
                copies.append(f"{path.relative_to(ROOT)}:{n}")
    assert not copies, copies


# -- 11: dialogs, the hint, feedback, filter, theme, palette ----------------------------------------


async def test_defect11_dialogs_have_their_own_footer_and_the_palette_one_theme() -> None:
    from ampsm_tui.screens.dialogs import ConfirmScreen

    app = await seeded_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("a")  # archive asks first
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        footer = app.screen.query_one(Footer)
        keys = {k.action.rsplit(".", 1)[-1] for k in footer.query("FooterKey")}  # type: ignore[attr-defined]
        assert keys == {"confirm_yes", "confirm_no"}, keys
        await pilot.press("n")
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert sum(1 for t in commands if t.lower().startswith("theme")) == 1, commands


async def test_defect11_filter_without_match_says_so() -> None:
    app = await seeded_app()
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"zzz")
        await settle(pilot)
        text = screen_text(app)
        assert "No session matches “zzz”" in text and "No sessions yet" not in text, text


async def test_defect11_theme_is_saved() -> None:
    app = await seeded_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.theme = "nord"
        await settle(pilot)
    again = create_app(app.config, engine_factory=stand_in_factory, cursor_blink=False)
    assert again.theme == "nord"


def test_defect11_welcome_hint_short_and_quiet_install() -> None:
    import tomllib

    from ampsm_tui.demo import tui

    assert tui.HINT_TIMEOUT_S <= 10
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert isinstance(project["license"], str)  # a table made setuptools print 56 lines of warnings
    assert "-qq" in (ROOT / "Makefile").read_text() or "--quiet --quiet" in (ROOT / "Makefile").read_text()
    assert actions.by_id("change_theme").palette is False


async def test_defect11_conflict_continue_with_markers_says_why(repo: Path) -> None:
    from ampsm_tui.screens.conflict import ConflictScreen

    from .conftest import git

    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        engine = app.engine
        s = await engine.sessions.create(repo=repo, name="clash", agent="command", agent_cmd="true")
        wt = Path(s.worktree_path)
        (wt / "app.py").write_text("def add(a, b):\n    return b + a\n")
        git(wt, "commit", "-qam", "theirs")
        (repo / "app.py").write_text("def add(a, b):\n    return a + b  # ours\n")
        git(repo, "commit", "-qam", "ours")
        result = await engine.sessions.merge(s.id, keep_conflict=True)
        assert not result.ok and result.conflicts
        await app.push_screen(ConflictScreen(s.id, "merge", list(result.conflicts), str(result.path)))
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        status = str(app.screen.query_one("#conflict-status", Static).render())
        assert "app.py" in status and ("marker" in status or "resolve" in status.lower()), status
        await pilot.press("a")
        await settle(pilot)


# -- 12: paint first, then fill in; virtual at 10,000 ------------------------------------------------


async def test_defect12_dashboard_paints_before_the_engine_is_open() -> None:
    """The dashboard is on screen (header, "Opening db …") while the DB is still being opened."""
    config = make_test_config()
    await seed_async(config)
    seen: dict[str, Any] = {}

    async def slow_factory(cfg: Any) -> Any:
        await asyncio.sleep(0.3)  # a slow disk, a big DB being migrated
        seen["screen"] = app.screen
        seen["text"] = screen_text(app)
        return await stand_in_factory(cfg)

    app = create_app(config, engine_factory=slow_factory, clock=Clock(), cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(seen["screen"], DashboardScreen)
        assert "Opening db" in seen["text"] and "ampsm" in seen["text"]
        assert await wait_for(pilot, lambda: dash(app).query_one(SessionTable).row_count == 7)


async def test_defect12_ten_thousand_sessions_stay_virtual() -> None:
    from ampsm_tui.engine.models import Session

    config = make_test_config()
    store = await open_store(config)
    async with store.transaction() as conn:
        for i in range(10_000):
            data = Session(
                id=f"sess-{i:08x}", name=f"task-{i}", repo_path="/tmp/r", base_branch="main",
                created_at=f"2025-03-14T00:{i // 60 % 60:02d}:{i % 60:02d}.000Z", updated_at="2025-03-14T00:00:00.000Z",
            ).model_dump(mode="json")  # fmt: skip
            cols = ", ".join(data)
            await conn.execute(
                f"INSERT INTO sessions ({cols}) VALUES ({', '.join('?' for _ in data)})", list(data.values())
            )
    await store.close()
    app = create_app(config, engine_factory=stand_in_factory, clock=Clock(), cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = dash(app).query_one(SessionTable)
        assert table.matching == 10_000 and table.row_count == table.max_rows <= 1000
        assert "10000 sessions 1000 shown" in str(dash(app).query_one("#summary", Static).render()).replace(",", "")
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1
