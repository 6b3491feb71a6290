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


PORTS_BATCH = """\
name: "many items, few ports"
repos:
  - path: "./one"
  - path: "./two"
items:
  - name: "first"
    prompt: "p"
    agent: command
    agentCmd: "echo $AMPSM_PORT > port.txt"
    script: "test -s port.txt"
  - name: "second"
    prompt: "p"
    agent: command
    agentCmd: "echo $AMPSM_PORT > port.txt"
    script: "test -s port.txt"
  - name: "third"
    prompt: "p"
    agent: command
    agentCmd: "echo $AMPSM_PORT > port.txt"
    script: "test -s port.txt"
concurrency: 1
"""


async def test_a_batch_larger_than_the_port_pool_gives_each_finished_items_ports_back(
    tmp_path: Path, isolated_env: Path
) -> None:
    """Six items, a pool of three blocks: every finished item gives its block back (it used to keep
    it until merged or archived, so a batch of more than 250 items failed with E004 at the 251st).
    A later turn of one of them takes a block again."""
    (isolated_env / "config.yaml").write_text("workspace:\n  port_range: '45100-45111'\n  ports_per_session: 4\n")
    ws = tmp_path / "ws"
    make_repo(ws / "one")
    make_repo(ws / "two")
    (ws / "batch.yaml").write_text(PORTS_BATCH)
    plan = load_batch(ws / "batch.yaml")
    engine = await Engine.open()
    try:
        result = await engine.batches.start(plan, 1)
        items = await engine.store.list_batch_items(result.id)
        assert [str(i.status) for i in items] == ["succeeded"] * 6, [(i.name, i.status, i.error) for i in items]
        sessions = [await engine.sessions.get(i.session_id) for i in items if i.session_id]
        assert len(sessions) == 6
        for s in sessions:
            port = int((Path(s.worktree_path) / "port.txt").read_text())
            assert 45100 <= port <= 45111
            assert await engine.store.session_ports(s.id) is None
        again = sessions[0]
        (Path(again.worktree_path) / "port.txt").unlink()
        await engine.sessions.iterate(again.id, "once more")
        block = await engine.store.session_ports(again.id)
        assert block is not None and block[0] == int((Path(again.worktree_path) / "port.txt").read_text())
    finally:
        await engine.close()


async def test_a_session_with_a_teardown_script_keeps_its_ports(tmp_path: Path) -> None:
    """The teardown is told the session's ports (what its setup started may hold them): kept."""
    from ampsm_tui.engine import workspace

    make_repo(tmp_path / "repo")
    hook = tmp_path / "repo" / ".ampsm" / "teardown"
    hook.parent.mkdir()
    hook.write_text("#!/bin/sh\ntrue\n")
    hook.chmod(0o755)
    engine = await Engine.open()
    try:
        s = await engine.sessions.create(repo=tmp_path / "repo", name="kept", agent="command", agent_cmd="true")
        before = await engine.store.session_ports(s.id)
        assert before is not None
        assert await workspace.give_back_ports(engine.sessions, s) is False
        assert await engine.store.session_ports(s.id) == before
        hook.unlink()
        assert await workspace.give_back_ports(engine.sessions, s) is True
        assert await engine.store.session_ports(s.id) is None
    finally:
        await engine.close()
