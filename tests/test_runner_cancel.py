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


async def test_a_cancel_as_the_session_is_claimed_gives_the_claim_back(repo: Path) -> None:
    """A stop that lands as the claim's write returns (it went through all the same): the session is
    not left `running` under this process, so the next iteration (a batch's resume) can run it."""
    engine = await Engine.open()
    try:
        session = await engine.sessions.create(repo=repo, name="claimed", prompt="x", agent="command", agent_cmd="true")
        before = session.status
        real_claim = engine.store.claim_session
        task: asyncio.Task[object]

        async def claim_then_stop(*args: Any, **kwargs: Any) -> int | None:
            holder = await real_claim(*args, **kwargs)
            task.cancel()
            await asyncio.sleep(0)  # the cancel lands here, the claim written
            return holder

        engine.store.claim_session = claim_then_stop  # type: ignore[method-assign]
        task = asyncio.create_task(engine.sessions.iterate(session.id))
        with pytest.raises(asyncio.CancelledError):
            await task
        engine.store.claim_session = real_claim  # type: ignore[method-assign]
        after = await engine.store.get_session(session.id)
        assert after is not None and after.status is before and after.pid is None
        iteration = await engine.sessions.iterate(session.id)
        assert iteration.status == "completed"
    finally:
        await engine.close()
