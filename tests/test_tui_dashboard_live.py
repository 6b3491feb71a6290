"""The dashboard you can leave open (issue 16): live refresh that cannot die, a ticking clock, the
selection kept across resizes, and the layout at 80x24. Real engine, real repos, real CLI processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampsm_tui.app import create_app
from ampsm_tui.widgets.session_list import SessionTable

from .conftest import run_cli
from .tui_support import dashboard, make_test_config, settle, use_fakes, wait_for

pytestmark = pytest.mark.tui


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_fakes(monkeypatch, tmp_path / "fake-state")


def cli_new(repo: Path, name: str, *extra: str) -> str:
    out = run_cli("new", "--repo", str(repo), "--name", name, "--prompt", "say hi", *extra, "--json")
    assert out.returncode == 0, out.stderr
    import json

    return str(json.loads(out.stdout)["id"])


async def test_defect1_refresh_survives_external_iterations_of_other_sessions(repo: Path) -> None:
    """Defect 1: after an external `iterate` of a session other than the selected one (and of one with no
    iteration at all), changes from other processes still appear, again and again."""
    first = cli_new(repo, "first")
    app = create_app(make_test_config(auto_update=True), cursor_blink=False, poll_interval=0.2, tail_interval=0.1)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert dashboard(app).selected == first
        other = cli_new(repo, "other")
        assert await wait_for(pilot, lambda: other in dashboard(app).sessions)
        table = dashboard(app).query_one(SessionTable)
        table.move_cursor(row=[r.session.id for r in table.visible_rows()].index(first))
        await settle(pilot)
        assert dashboard(app).selected == first
        for n in range(3):
            out = run_cli("iterate", other)
            assert out.returncode == 0, out.stderr
            assert await wait_for(pilot, lambda n=n: table.get_cell(other, "iters") == str(n + 1)), n
            late = cli_new(repo, f"late-{n}")
            assert await wait_for(pilot, lambda late=late: late in dashboard(app).sessions), n
        assert dashboard(app).selected == first


async def test_defect1_refresh_survives_a_failing_check_and_sees_changes_fast(repo: Path) -> None:
    """Defect 1: one failing DB read (a locked DB, a dying watcher) used to end live refresh (the
    re-armed poll raised into the app); now the watch and the poll restart, and other processes'
    changes keep arriving. The slow poll is set to 60 s here: what arrives comes through the file watch."""
    import sqlite3

    app = create_app(make_test_config(auto_update=True), cursor_blink=False, poll_interval=60)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.db_watch is not None
        real = app.store.change_state
        failures = {"left": 2}

        async def flaky() -> tuple[object, ...]:
            if failures["left"]:
                failures["left"] -= 1
                raise sqlite3.OperationalError("database is locked")
            return await real()

        app.store.change_state = flaky  # type: ignore[method-assign]
        names = []
        for n in range(3):
            sid = cli_new(repo, f"late-{n}")
            names.append(sid)
            assert await wait_for(pilot, lambda sid=sid: sid in dashboard(app).sessions, tries=150), n
        assert failures["left"] == 0 and app.db_watch.restarts >= 1
        assert app.is_running and app.db_watch.running
