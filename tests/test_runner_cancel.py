"""Cancelling an iteration, even twice in a row (an app quitting), records it as interrupted."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from ampsm_tui.engine.engine import Engine
from ampsm_tui.engine.models import SessionStatus
from tests.conftest import FAKES


async def test_double_cancel_still_records_interrupted(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AMP_API_KEY", "amp-key-for-cancel-test")
    monkeypatch.setenv("FAKE_AGENT_MODE", "hang")
    from ampsm_tui.engine import runner

    real_commit = runner.gitops.commit_iteration

    async def slow_commit(*args: object, **kwargs: object) -> object:
        await asyncio.sleep(0.6)  # recording the outcome takes a while: the second cancel lands in it
        return await real_commit(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runner.gitops, "commit_iteration", slow_commit)
    engine = await Engine.open()
    try:
        session = await engine.sessions.create(repo=repo, name="hang", prompt="wait")
        task = asyncio.create_task(engine.sessions.iterate(session.id))
        for _ in range(300):
            await asyncio.sleep(0.05)
            current = await engine.store.get_session(session.id)
            if current and current.status is SessionStatus.RUNNING and (await engine.store.last_iteration(session.id)):
                break
        await asyncio.sleep(0.3)  # the agent is streaming (hang mode printed its init line)
        task.cancel()
        await asyncio.sleep(0.4)  # the agent's group is killed; the runner is now recording the outcome
        task.cancel()  # a second cancel while the outcome is being recorded
        with pytest.raises(asyncio.CancelledError):
            await task
        final = await engine.store.get_session(session.id)
        assert final is not None and final.status is SessionStatus.INTERRUPTED and final.pid is None
        it = await engine.store.last_iteration(session.id)
        assert it is not None and it.status == "interrupted" and it.ended_at
    finally:
        await engine.close()


@pytest.mark.parametrize("write", ["claim_session", "create_iteration"])
async def test_a_cancel_as_the_turn_is_opened_leaves_nothing_running(repo: Path, write: str) -> None:
    """A stop that lands as the claim's or the iteration row's write returns (it went through all
    the same): neither the session nor an iteration is left `running` under this process, and the
    next iteration (a batch's resume) runs."""
    engine = await Engine.open()
    try:
        session = await engine.sessions.create(repo=repo, name="claimed", prompt="x", agent="command", agent_cmd="true")
        real_write = getattr(engine.store, write)
        task: asyncio.Task[object]

        async def write_then_stop(*args: Any, **kwargs: Any) -> Any:
            written = await real_write(*args, **kwargs)
            task.cancel()
            await asyncio.sleep(0)  # the cancel lands here, the row written
            return written

        setattr(engine.store, write, write_then_stop)
        task = asyncio.create_task(engine.sessions.iterate(session.id))
        with pytest.raises(asyncio.CancelledError):
            await task
        setattr(engine.store, write, real_write)
        after = await engine.store.get_session(session.id)
        assert after is not None and after.status is not SessionStatus.RUNNING and after.pid is None
        assert all(i.status != "running" and i.ended_at for i in await engine.store.list_iterations(session.id))
        iteration = await engine.sessions.iterate(session.id)
        assert iteration.status == "completed"
    finally:
        await engine.close()
