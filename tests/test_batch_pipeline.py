"""A pipelined batch (the local executor's): an agent slot is held around the agent alone.

Items are prepared (worktree, session row) while the slots are busy, and commit and run their test
gate after giving their slot up; never more than C agents, at most C items prepared ahead of their
agent, and every row says what happened. Real repos, the real DB, the `command` agent through
`/bin/sh -c`; every wait is on a condition (generous timeouts), never on a duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

from ampsm_tui.engine.batch import load_batch
from ampsm_tui.engine.engine import Engine
from ampsm_tui.engine.models import BatchItem, BatchItemStatus, BatchRun
from ampsm_tui.engine.scheduler import BatchScheduler, engine_run_item
from tests.git_helpers import git
from tests.test_batch_file import make_repo

WAIT_S = 120.0


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, task: asyncio.Task[BatchRun] | None = None) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not await check():
        if task is not None and task.done():
            raise AssertionError(f"the batch ended before {what}: {task.result()}")
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def stop_all(engine: Engine, task: asyncio.Task[BatchRun] | None) -> None:
    """After a test, passed or failed: stop the batch if it still runs, then close the engine."""
    engine.batches.stop()
    if task is not None:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, WAIT_S)
    await engine.close()


def write_batch(ws: Path, items: int, *, agent: str, script: str | None = None, concurrency: int = 1) -> Path:
    make_repo(ws / "repo")
    lines = ["name: pipeline", "repos:", "  - path: repo", "items:"]
    for i in range(items):
        lines += [f"  - name: item{i}", f"    prompt: make item{i}", "    agent: command"]
        lines.append(f"    agentCmd: {json.dumps(agent.format(i=i))}")
        if script:
            lines.append(f"    script: {json.dumps(script)}")
    lines.append(f"concurrency: {concurrency}")
    f = ws / "batch.yaml"
    f.write_text("\n".join(lines) + "\n")
    return f


def rows(engine: Engine, sql: str, *args: object) -> list[sqlite3.Row]:
    """A second, plain connection: what another process (the TUI, `batch status`) would read."""
    with sqlite3.connect(engine.store.path) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql, args))


def by_name(engine: Engine, batch_id: str) -> dict[str, sqlite3.Row]:
    return {r["name"]: r for r in rows(engine, "SELECT * FROM batch_items WHERE batch_id = ?", batch_id)}


def session_of(engine: Engine, item_id: str) -> sqlite3.Row | None:
    found = rows(engine, "SELECT * FROM sessions WHERE batch_item_id = ?", item_id)
    return found[0] if found else None


def iterations(engine: Engine, session_id: str) -> list[sqlite3.Row]:
    return rows(engine, "SELECT * FROM iterations WHERE session_id = ?", session_id)


async def test_the_next_agent_starts_while_an_item_runs_its_test_gate_and_one_item_is_prepared_ahead(
    tmp_path: Path,
) -> None:
    """Concurrency 1: item0's test gate blocks until the test opens it. Its agent slot is free all
    the same, so item1's agent runs meanwhile, and item2 is prepared (worktree and session, still
    `pending`, no iteration) while item3 waits untouched: one item ahead of the agents, no more."""
    ws, log, gate = tmp_path / "ws", tmp_path / "agents.log", tmp_path / "gate"
    f = write_batch(
        ws,
        4,
        agent=f"echo item{{i}} >> {log}; echo {{i}} > out{{i}}.txt",
        script=f"while [ ! -e {gate} ]; do sleep 0.05; done",
    )
    engine = await Engine.open()
    task: asyncio.Task[BatchRun] | None = None
    try:
        run = await engine.batches.create(load_batch(f), 1)
        task = asyncio.create_task(engine.batches.run(run))

        async def two_agents_ran() -> bool:
            return log.exists() and len(log.read_text().split()) >= 2

        await wait_for(two_agents_ran, "a second agent while the first item's test gate runs", task)
        assert log.read_text().split() == ["item0", "item1"]

        async def item2_prepared() -> bool:
            return session_of(engine, by_name(engine, run.id)["item2"]["id"]) is not None

        await wait_for(item2_prepared, "the third item prepared", task)
        items = by_name(engine, run.id)
        assert items["item0"]["status"] == "running"  # in its test gate
        prepared = session_of(engine, items["item2"]["id"])
        assert prepared is not None and prepared["status"] == "idle" and not iterations(engine, prepared["id"])
        assert items["item2"]["status"] == "pending" and items["item2"]["started_at"] is None
        assert Path(prepared["worktree_path"]).is_dir()
        assert session_of(engine, items["item3"]["id"]) is None  # the bound: one item ahead, not two
        assert log.read_text().split() == ["item0", "item1"]  # item2's agent waits for the slot

        gate.write_text("")
        result = await asyncio.wait_for(task, WAIT_S)
    finally:
        gate.write_text("")  # a failed wait must not leave a test gate spinning
        await stop_all(engine, task)
    assert str(result.status) == "done"
    assert log.read_text().split() == ["item0", "item1", "item2", "item3"]
    for item in by_name(engine, run.id).values():
        assert item["status"] == "succeeded" and item["attempts"] == 1
        session = session_of(engine, item["id"])
        assert session is not None and session["id"] == item["session_id"] and session["status"] == "idle"
        (it,) = iterations(engine, session["id"])
        assert it["status"] == "completed" and it["commit_sha"] and it["test_exit_code"] == 0
        # true times: prepared (session made) before the item started, its agent's turn after that
        assert session["created_at"] <= item["started_at"] <= it["started_at"] <= it["ended_at"] <= item["ended_at"]


async def test_agents_never_exceed_the_concurrency(tmp_path: Path) -> None:
    """The agents' own start/end records: at most C alive at once, all items run once."""
    ws, log = tmp_path / "ws", tmp_path / "alive.log"
    f = write_batch(
        ws,
        6,
        agent=f"echo start $(date +%s%N) >> {log}; sleep 0.3; echo end $(date +%s%N) >> {log}",
        concurrency=2,
    )
    engine = await Engine.open()
    try:
        result = await engine.batches.start(load_batch(f), 2)
    finally:
        await engine.close()
    assert str(result.status) == "done"
    events = sorted(
        (int(t), 0 if what == "end" else 1) for what, t in (line.split() for line in log.read_text().splitlines())
    )
    alive = peak = 0
    for _, starting in events:
        alive += 1 if starting else -1
        peak = max(peak, alive)
    assert 1 <= peak <= 2  # a real bound: pipelined, still never more agents alive than the concurrency
    assert sum(1 for _, starting in events if starting) == 6


async def test_an_abort_leaves_a_prepared_item_pending_and_resume_runs_it_in_its_session(tmp_path: Path) -> None:
    """Aborted while item1 is prepared and waiting for the slot: item0 (its agent running) is
    `aborted`, item1 stays `pending` with its attempt given back; its session is idle, has no
    iteration and owns its worktree (no orphan). Resume runs it in that same session."""
    ws, stop = tmp_path / "ws", tmp_path / "fast"
    f = write_batch(ws, 3, agent=f"test -e {stop} || sleep 60; echo {{i}} > out{{i}}.txt")
    engine = await Engine.open()
    task: asyncio.Task[BatchRun] | None = None
    try:
        run = await engine.batches.create(load_batch(f), 1)
        task = asyncio.create_task(engine.batches.run(run))

        async def item1_prepared() -> bool:
            items = by_name(engine, run.id)
            return items["item0"]["status"] == "running" and session_of(engine, items["item1"]["id"]) is not None

        await wait_for(item1_prepared, "item0 running and item1 prepared", task)
        engine.batches.stop(run.id)  # what Ctrl-C does
        assert str((await asyncio.wait_for(task, WAIT_S)).status) == "aborted"

        items = by_name(engine, run.id)
        assert [items[f"item{i}"]["status"] for i in range(3)] == ["aborted", "pending", "pending"]
        assert items["item1"]["attempts"] == 0 and items["item1"]["started_at"] is None
        prepared = session_of(engine, items["item1"]["id"])
        assert prepared is not None and prepared["status"] == "idle" and not iterations(engine, prepared["id"])
        sessions = rows(engine, "SELECT * FROM sessions")
        assert "running" not in [s["status"] for s in sessions]
        listed = git(ws / "repo", "worktree", "list", "--porcelain").splitlines()
        trees = sorted(line.split(" ", 1)[1] for line in listed if line.startswith("worktree "))[1:]
        assert trees == sorted(s["worktree_path"] for s in sessions)  # every worktree has its row

        stop.write_text("")
        resumed = await asyncio.wait_for(engine.batches.resume(run.id), WAIT_S)
    finally:
        stop.write_text("")
        await stop_all(engine, task)
    assert str(resumed.status) == "done"
    items = by_name(engine, run.id)
    assert {i["status"] for i in items.values()} == {"succeeded"}
    assert items["item1"]["session_id"] == prepared["id"]  # the prepared session, not a second one
    assert len(iterations(engine, prepared["id"])) == 1
    assert len(rows(engine, "SELECT * FROM sessions")) == 3


async def test_a_budget_reached_while_an_item_was_prepared_keeps_its_agent_from_starting(tmp_path: Path) -> None:
    """The start gate (a budget) is asked again when a prepared item takes its agent slot: what the
    items before it spent meanwhile counts. Refused there, the item is `aborted` as not started, its
    agent never runs and its preparation is undone: no session, worktree or branch left for it."""
    ws, log = tmp_path / "ws", tmp_path / "agents.log"
    f = write_batch(ws, 2, agent=f"echo item{{i}} >> {log}; echo {{i}} > out{{i}}.txt")
    engine = await Engine.open()
    asked: dict[str, int] = {}

    async def gate(item: BatchItem) -> str | None:
        asked[item.name] = asked.get(item.name, 0) + 1
        return "budget reached" if item.name == "item1" and asked[item.name] > 1 else None

    try:
        run = await engine.batches.create(load_batch(f), 1)
        result = await BatchScheduler(
            engine.store, run.id, engine_run_item(engine), bus=engine.bus, gate=gate, pipelined=True
        ).run()
    finally:
        await engine.close()
    assert str(result.status) == "done"
    items = by_name(engine, run.id)
    assert items["item0"]["status"] == BatchItemStatus.SUCCEEDED.value
    assert items["item1"]["status"] == BatchItemStatus.ABORTED.value
    assert items["item1"]["error"] == "not started: budget reached"
    assert asked == {"item0": 2, "item1": 2}
    assert log.read_text().split() == ["item0"]
    assert session_of(engine, items["item1"]["id"]) is None and items["item1"]["session_id"] is None
    (only,) = rows(engine, "SELECT * FROM sessions")
    listed = git(ws / "repo", "worktree", "list", "--porcelain").splitlines()
    assert sorted(line.split(" ", 1)[1] for line in listed if line.startswith("worktree "))[1:] == [
        only["worktree_path"]
    ]
    branches = git(ws / "repo", "for-each-ref", "--format=%(refname:short)", "refs/heads/amp/").split()
    assert branches == [only["branch"]]
