"""BatchService (run, resume, abort) in the engine, and the engine's one notifier on the bus.

Real repos, the real DB, the `command` agent through `/bin/sh -c` (a batch's `agentCmd: "a; b"`),
and a real HTTP receiver for the batch file's own webhook.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ampsm_tui.engine.batch import load_batch
from ampsm_tui.engine.engine import Engine
from ampsm_tui.engine.events import Event
from tests.test_batch_file import make_repo
from tests.test_notify_webhook import Receiver

BATCH = """\
name: "service batch"
repos:
  - path: "./one"
  - path: "./two"
items:
  - name: "two commands"
    prompt: "write things"
    agent: command
    agentCmd: "echo a > a.txt; echo b > b.txt"
    script: "test -f a.txt && test -f b.txt"
concurrency: 2
notifications:
  webhook: "{url}"
"""


async def test_run_publishes_progress_and_the_batch_webhook_gets_the_end(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    make_repo(ws / "one")
    make_repo(ws / "two")
    with Receiver() as rx:
        (ws / "batch.yaml").write_text(BATCH.format(url=rx.url))
        plan = load_batch(ws / "batch.yaml")
        engine = await Engine.open()
        seen: list[Event] = []
        engine.bus.subscribe("batch.*", seen.append)
        try:
            result = await engine.batches.start(plan, 2)
        finally:
            await engine.close()  # the engine's notifier delivers before the store closes
        assert str(result.status) == "done"
        assert [e.topic for e in seen][-1] == "batch.finished"
        assert sum(1 for e in seen if e.topic == "batch.progress") >= 2
        assert [b["topic"] for b in rx.bodies] == ["batch.finished"]


async def test_stop_then_resume_then_abort(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    make_repo(ws / "one")
    make_repo(ws / "two")
    (ws / "batch.yaml").write_text(
        BATCH.replace("echo a > a.txt; echo b > b.txt", "sleep 30")
        .replace('  webhook: "{url}"\n', "")
        .replace("notifications:\n", "")
    )
    plan = load_batch(ws / "batch.yaml")
    engine = await Engine.open()
    try:
        run = await engine.batches.create(plan, 2)
        task = asyncio.create_task(engine.batches.run(run))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if (await engine.store.batch_counts(run.id)).get("running"):
                break
        engine.batches.stop(run.id)  # what Ctrl-C does
        stopped = await asyncio.wait_for(task, 30)
        assert str(stopped.status) == "aborted"

        resumed = asyncio.create_task(engine.batches.resume(run.id[:10]))  # by prefix
        for _ in range(200):
            await asyncio.sleep(0.05)
            if (await engine.store.batch_counts(run.id)).get("running"):
                break
        aborted, counts = await engine.batches.abort(run.id)
        await asyncio.wait_for(resumed, 30)
        assert str(aborted.status) == "aborted" and not counts.get("running")
    finally:
        await engine.close()


async def test_a_batch_that_ends_leaves_other_sessions_iterations_running(tmp_path: Path) -> None:
    """The batch stops its own items' iterations when it ends, never one the user runs beside it
    (in the TUI, a session iterating while a batch finishes used to be cancelled with it)."""
    import contextlib

    ws = tmp_path / "ws"
    make_repo(ws / "one")
    make_repo(ws / "two")
    make_repo(ws / "mine")
    (ws / "batch.yaml").write_text(BATCH.replace('  webhook: "{url}"\n', "").replace("notifications:\n", ""))
    plan = load_batch(ws / "batch.yaml")
    engine = await Engine.open()
    try:
        mine = await engine.sessions.create(repo=ws / "mine", name="mine", agent="command", agent_cmd="sleep 60")
        own = asyncio.create_task(engine.sessions.iterate(mine.id))
        for _ in range(1200):  # up to a minute on a loaded machine for the turn to start
            await asyncio.sleep(0.05)
            if str((await engine.sessions.get(mine.id)).status) == "running":
                break
        assert engine.sessions.is_running(mine.id)
        result = await engine.batches.start(plan, 2)
        assert str(result.status) == "done"
        await asyncio.sleep(0.2)
        assert not own.done() and engine.sessions.is_running(mine.id)
        own.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await own
        assert str((await engine.sessions.get(mine.id)).status) == "interrupted"
    finally:
        await engine.close()
