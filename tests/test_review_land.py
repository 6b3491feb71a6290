"""ReviewService.land against the engine on a real temp repo: the wizard's and `ampsm land`'s one call.

A conflict is a result: aborting it restores every ref and the worktree exactly (a squash done by
the land is undone too); resolving the files and resuming lands the session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ampsm_tui.engine.engine import Engine
from ampsm_tui.engine.events import Event
from ampsm_tui.engine.models import SessionStatus
from ampsm_tui.engine.review import LandPlan
from tests.git_helpers import commit_all, git, state, write


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    e = await Engine.open()
    try:
        yield e
    finally:
        await e.close()


async def _session(engine: Engine, repo: Path, *, script: str | None = None) -> tuple[str, Path]:
    s = await engine.sessions.create(repo=repo, name="land me", agent="command", agent_cmd="true", script=script)
    wt = Path(s.worktree_path)
    write(wt / "app.py", "def add(a, b):\n    return a + b  # session 1\n")
    commit_all(wt, "amp: first change")
    write(wt / "app.py", "def add(a, b):\n    return a + b  # session 2\n")
    write(wt / "new.py", "x = 1\n")
    commit_all(wt, "amp: second change")
    return s.id, wt


def _conflict_on_main(repo: Path) -> str:
    write(repo / "app.py", "def add(a, b):\n    return b + a  # main\n")
    return commit_all(repo, "main moved on")


def _snapshot(repo: Path, wt: Path) -> dict[str, object]:
    return {
        "repo": state(repo),
        "worktree": state(wt),
        "files": {p.name: p.read_text() for p in sorted(wt.iterdir()) if p.is_file()},
        "main_files": {p.name: p.read_text() for p in sorted(repo.iterdir()) if p.is_file()},
    }


def _topics(engine: Engine) -> list[Event]:
    seen: list[Event] = []
    engine.bus.subscribe("land.*", seen.append)
    return seen


async def test_rebase_conflict_then_abort_restores_every_ref_and_the_worktree(engine: Engine, repo: Path) -> None:
    sid, wt = await _session(engine, repo)
    _conflict_on_main(repo)
    before = _snapshot(repo, wt)
    events = _topics(engine)

    result = await engine.review.land(sid, LandPlan(squash=True, message="Land it"))

    assert result.status == "conflict" and result.stopped
    assert result.conflict is not None and result.conflict.operation == "rebase"
    assert result.conflict.files == ["app.py"]
    assert [(s.step, s.status) for s in result.steps] == [("squash", "done"), ("rebase", "conflict")]
    assert git(wt, "log", "-1", "--format=%s", "REBASE_HEAD") == "Land it"  # the squash happened first
    assert await engine.review.stopped(sid)

    aborted = await result.abort()

    assert aborted.status == "aborted"
    assert _snapshot(repo, wt) == before  # every ref, HEAD, index, status, worktree list and file
    assert not await engine.review.stopped(sid)
    assert [(e.topic, getattr(e, "step", None), getattr(e, "status", None)) for e in events] == [
        ("land.step", "squash", "done"),
        ("land.step", "rebase", "conflict"),
        ("land.finished", None, "conflict"),
        ("land.finished", None, "aborted"),
    ]
    assert (await engine.sessions.get(sid)).status is SessionStatus.IDLE


async def test_merge_conflict_then_abort_restores_the_main_checkout(engine: Engine, repo: Path) -> None:
    sid, wt = await _session(engine, repo)
    _conflict_on_main(repo)
    before = _snapshot(repo, wt)

    result = await engine.review.land(sid, LandPlan(squash=True, rebase=False, merge_message="merge it"))

    assert result.status == "conflict" and result.conflict is not None
    assert result.conflict.operation == "merge" and result.conflict.files == ["app.py"]
    assert Path(result.conflict.path) == repo  # main has the base checked out: the merge waits there
    assert git(repo, "status", "--porcelain") != ""

    await engine.review.abort(sid)  # by id, as a later command would

    assert _snapshot(repo, wt) == before


async def test_resolve_then_resume_lands(engine: Engine, repo: Path) -> None:
    sid, wt = await _session(engine, repo)
    main_tip = _conflict_on_main(repo)
    result = await engine.review.land(sid, LandPlan(message="Land it", remove_worktree=False))
    assert result.status == "conflict"

    write(wt / "app.py", "def add(a, b):\n    return b + a  # resolved\n")
    landed = await result.resume()

    assert landed.landed, landed
    assert [(s.step, s.status) for s in landed.steps] == [
        ("squash", "done"),
        ("rebase", "conflict"),
        ("rebase", "done"),
        ("retest", "skipped"),
        ("merge", "done"),
    ]
    assert git(repo, "rev-parse", "main") == landed.sha
    assert git(repo, "rev-parse", "main~1") == main_tip  # one squashed commit on top of main
    assert git(repo, "log", "-1", "--format=%s", "main") == "Land it"
    assert (repo / "app.py").read_text().endswith("# resolved\n")  # the main checkout follows its branch
    assert (await engine.sessions.get(sid)).status is SessionStatus.DONE
    assert not await engine.review.stopped(sid)


async def test_merge_conflict_resolved_then_resume_finishes_the_session(engine: Engine, repo: Path) -> None:
    sid, wt = await _session(engine, repo)
    _conflict_on_main(repo)
    result = await engine.review.land(sid, LandPlan(rebase=False, merge_message="merge it", remove_worktree=True))
    assert result.conflict is not None
    write(repo / "app.py", "def add(a, b):\n    return b + a  # merged by hand\n")

    landed = await engine.review.resume(sid)

    assert landed.landed
    assert git(repo, "log", "-1", "--format=%s", "main") == "merge it"
    assert git(repo, "status", "--porcelain") == ""
    assert (await engine.sessions.get(sid)).status is SessionStatus.DONE
    assert not wt.exists()  # remove_worktree honoured after the resolved merge, as after a clean one


async def test_failing_retest_stops_and_abort_undoes_the_squash(engine: Engine, repo: Path) -> None:
    sid, wt = await _session(engine, repo, script="test -f never-there")
    before = _snapshot(repo, wt)

    result = await engine.review.land(sid, LandPlan(message="Land it"))

    assert result.status == "tests-failed"
    assert [(s.step, s.status) for s in result.steps][-1] == ("retest", "failed")
    assert git(repo, "rev-parse", "main") == before["repo"]["head"]  # type: ignore[index]
    with pytest.raises(Exception, match="stopped"):
        await engine.review.land(sid)  # one land at a time

    await result.abort()
    assert _snapshot(repo, wt) == before


async def test_failing_retest_resumed_without_tests_lands(engine: Engine, repo: Path) -> None:
    sid, _ = await _session(engine, repo, script="test -f never-there")
    result = await engine.review.land(sid, LandPlan(squash=False, remove_worktree=False))
    assert result.status == "tests-failed"

    landed = await result.resume(retest=False)

    assert landed.landed
    assert git(repo, "log", "--format=%s", "-2", "main").splitlines() == ["amp: second change", "amp: first change"]
    assert landed.steps[-2].step == "retest" and landed.steps[-2].status == "skipped"


async def test_clean_land_publishes_one_event_per_step(engine: Engine, repo: Path) -> None:
    sid, _ = await _session(engine, repo, script="true")
    events = _topics(engine)

    result = await engine.review.land(sid, LandPlan(message="All of it", merge_mode="no-ff"))

    assert result.landed
    steps = [(getattr(e, "step", None), getattr(e, "status", None)) for e in events]
    assert steps == [
        ("squash", "done"),
        ("rebase", "done"),
        ("retest", "done"),
        ("merge", "done"),
        (None, "landed"),
    ]
    assert len(git(repo, "rev-parse", "main^@").split()) == 2  # --no-ff: a merge commit
