"""The scheduler with an injected run_item that runs real subprocesses (so the peak of alive
processes is measured from the processes' own start/end records, not from our counters)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ampsm_tui.engine.batch import load_batch
from ampsm_tui.engine.events import BatchFinished, BatchProgress, Event, MetricsEventBus
from ampsm_tui.engine.models import BatchItem, BatchItemStatus, BatchStatus
from ampsm_tui.engine.scheduler import BatchScheduler, ItemFailed, abort_batch, create_batch, is_stalled
from ampsm_tui.engine.store import Store
from tests.test_batch_file import make_repo

CHILD = textwrap.dedent(
    """
    import os, sys, time
    log, name, hold = sys.argv[1], sys.argv[2], float(sys.argv[3])
    def mark(what):
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, f"{what} {time.monotonic_ns()} {name} {os.getpid()}\\n".encode())
        os.close(fd)
    mark("start")
    time.sleep(hold)
    mark("end")
    """
)


def peak_alive(log: Path) -> int:
    events = []
    for line in log.read_text().splitlines():
        what, t, *_ = line.split()
        events.append((int(t), 0 if what == "end" else 1))  # an end at the same instant sorts first
    alive = peak = 0
    for _, kind in sorted(events):
        alive += 1 if kind else -1
        peak = max(peak, alive)
    return peak


def started_names(log: Path) -> list[str]:
    return [line.split()[2] for line in log.read_text().splitlines() if line.startswith("start")]


def subprocess_runner(log: Path, hold: float = 0.3, fail: set[str] | None = None):  # type: ignore[no-untyped-def]
    """A run_item that runs a real child process and kills it when cancelled (as the session
    service does with an agent)."""
    fail = fail if fail is not None else set()

    async def run_item(item: BatchItem) -> BatchItemStatus:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, str(log), f"{item.name}@{Path(item.repo_path).name}", str(hold)
        )
        try:
            code = await proc.wait()
        except asyncio.CancelledError:
            proc.kill()
            await proc.wait()
            raise
        key = f"{item.name}@{Path(item.repo_path).name}"
        if key in fail:
            fail.discard(key)  # fails once: a retry succeeds
            raise ItemFailed(BatchItemStatus.FAILED, "tests failed")
        return BatchItemStatus.SUCCEEDED if code == 0 else BatchItemStatus.FAILED

    return run_item


def write_batch(tmp: Path, repos: int, items: int, *, concurrency: int = 3, retries: int = 0) -> Path:
    ws = tmp / "ws"
    for r in range(repos):
        make_repo(ws / f"repo{r}")
    lines = ["name: test batch", "repos:"]
    lines += [f"  - path: repo{r}" for r in range(repos)]
    lines += ["items:"]
    for i in range(items):
        lines += [f"  - name: item{i}", f"    prompt: do thing {i}", f"    retries: {retries}"]
    lines += [f"concurrency: {concurrency}"]
    f = ws / "batch.yaml"
    f.write_text("\n".join(lines) + "\n")
    return f


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "db.sqlite")
    await s.open()
    yield s
    await s.close()


async def test_peak_concurrency_and_every_item_recorded(tmp_path: Path, store: Store) -> None:
    plan = load_batch(write_batch(tmp_path, 3, 4))
    run = await create_batch(store, plan, plan.concurrency(None, 1))
    assert run.concurrency == 3
    log = tmp_path / "alive.log"
    bus = MetricsEventBus()
    seen: list[Event] = []
    bus.subscribe("batch.*", seen.append)
    result = await BatchScheduler(store, run.id, subprocess_runner(log), bus=bus).run()
    assert result.status == BatchStatus.DONE and result.ended_at
    items = await store.list_batch_items(run.id)
    assert len(items) == 12 and {i.status for i in items} == {BatchItemStatus.SUCCEEDED}
    assert all(i.attempts == 1 and i.started_at and i.ended_at for i in items)
    assert sorted(started_names(log)) == sorted(f"item{i}@repo{r}" for i in range(4) for r in range(3))
    peak = peak_alive(log)
    assert 1 <= peak <= 3
    finished = [e for e in seen if isinstance(e, BatchFinished)]
    assert len(finished) == 1 and finished[0].succeeded == 12 and finished[0].status == "done"
    progress = [e for e in seen if isinstance(e, BatchProgress)]
    assert progress[-1].done == 12 and max(p.running for p in progress) <= 3


async def test_cli_style_override_of_concurrency(tmp_path: Path, store: Store) -> None:
    plan = load_batch(write_batch(tmp_path, 1, 4, concurrency=4))
    run = await create_batch(store, plan, 4)
    log = tmp_path / "alive.log"
    await BatchScheduler(store, run.id, subprocess_runner(log, hold=0.2), concurrency=1).run()
    assert peak_alive(log) == 1
    assert (await store.get_batch(run.id)).concurrency == 1  # type: ignore[union-attr]


async def test_retries_rerun_a_failed_item_and_errors_do_not_stop_the_batch(tmp_path: Path, store: Store) -> None:
    plan = load_batch(write_batch(tmp_path, 1, 3, retries=1))
    run = await create_batch(store, plan, 2)
    log = tmp_path / "alive.log"
    inner = subprocess_runner(log, hold=0.05, fail={"item0@repo0"})

    async def run_item(item: BatchItem) -> BatchItemStatus:
        if item.name == "item2":
            raise RuntimeError("boom")
        return await inner(item)

    result = await BatchScheduler(store, run.id, run_item).run()
    items = {i.name: i for i in await store.list_batch_items(run.id)}
    assert items["item0"].status == BatchItemStatus.SUCCEEDED and items["item0"].attempts == 2
    assert items["item1"].status == BatchItemStatus.SUCCEEDED and items["item1"].attempts == 1
    assert items["item2"].status == BatchItemStatus.ERROR and "boom" in (items["item2"].error or "")
    assert items["item2"].attempts == 2  # retries apply to errors too
    assert result.status == BatchStatus.FAILED


async def test_abort_from_another_process_then_resume_runs_only_unfinished(tmp_path: Path, store: Store) -> None:
    plan = load_batch(write_batch(tmp_path, 2, 4))
    run = await create_batch(store, plan, 2)
    log = tmp_path / "alive.log"
    fast = subprocess_runner(log, hold=0.05)
    slow = subprocess_runner(log, hold=60)

    async def run_item(item: BatchItem) -> BatchItemStatus:
        return await (fast if item.ordinal < 2 else slow)(item)

    sched = BatchScheduler(store, run.id, run_item, poll_interval=0.05)
    task = asyncio.create_task(sched.run())
    while True:  # wait until the two slow items run, then abort through the DB (as `batch abort` does)
        counts = await store.batch_counts(run.id)
        if counts.get("succeeded") == 2 and counts.get("running") == 2:
            break
        await asyncio.sleep(0.05)
    other = Store(store.path)
    await other.open()
    await abort_batch(other, run.id)
    await other.close()
    result = await asyncio.wait_for(task, 30)
    assert result.status == BatchStatus.ABORTED
    items = await store.list_batch_items(run.id)
    by_status: dict[str, list[int]] = {}
    for i in items:
        by_status.setdefault(i.status.value, []).append(i.ordinal)
    assert by_status == {"succeeded": [0, 1], "aborted": [2, 3], "pending": [4, 5, 6, 7]}
    # the slow children were killed, not left running: each start has no end, and no process lives
    pids = [int(line.split()[3]) for line in log.read_text().splitlines() if " item" in line]
    for pid in pids:
        assert not _alive(pid)
    before = started_names(log)
    resumed = await BatchScheduler(store, run.id, fast).run()
    assert resumed.status == BatchStatus.DONE
    again = started_names(log)[len(before) :]
    assert sorted(again) == sorted(f"{i.name}@{Path(i.repo_path).name}" for i in items if i.ordinal >= 2)
    assert {i.status for i in await store.list_batch_items(run.id)} == {BatchItemStatus.SUCCEEDED}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


OWNER = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {root!r})
    from ampsm_tui.engine.scheduler import BatchScheduler
    from ampsm_tui.engine.store import Store
    from tests.test_batch_scheduler import subprocess_runner
    from pathlib import Path

    async def main():
        store = Store(Path({db!r}))
        await store.open()
        await BatchScheduler(store, {batch!r}, subprocess_runner(Path({log!r}), hold=0.4)).run()

    asyncio.run(main())
    """
)


async def test_sigkilled_owner_is_detected_and_resume_finishes_the_rest(tmp_path: Path, store: Store) -> None:
    plan = load_batch(write_batch(tmp_path, 2, 3))
    run = await create_batch(store, plan, 2)
    log = tmp_path / "alive.log"
    code = OWNER.format(root=str(Path(__file__).parent.parent), db=str(store.path), batch=run.id, log=str(log))
    owner = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        while True:
            counts = await store.batch_counts(run.id)
            if counts.get("succeeded", 0) >= 2 and counts.get("running", 0) >= 1:
                break
            assert owner.poll() is None, "the owner ended before it could be killed"
            await asyncio.sleep(0.05)
        os.killpg(owner.pid, signal.SIGKILL)  # the owner and its children die at once, no clean-up
        owner.wait()
    finally:
        if owner.poll() is None:
            owner.kill()
    stale = await store.get_batch(run.id)
    assert stale is not None and stale.status == BatchStatus.RUNNING and is_stalled(stale)
    finished_before = {i.id for i in await store.list_batch_items(run.id) if i.status == BatchItemStatus.SUCCEEDED}
    assert len(finished_before) >= 2
    before = len(started_names(log))
    result = await BatchScheduler(store, run.id, subprocess_runner(log, hold=0.05)).run()
    assert result.status == BatchStatus.DONE and not is_stalled(result)
    items = await store.list_batch_items(run.id)
    assert {i.status for i in items} == {BatchItemStatus.SUCCEEDED}
    rerun = started_names(log)[before:]
    done_keys = {f"{i.name}@{Path(i.repo_path).name}" for i in items if i.id in finished_before}
    assert not done_keys & set(rerun)  # finished items were not redone
    assert len(rerun) == 6 - len(finished_before)


async def test_a_live_owner_blocks_a_second_runner(tmp_path: Path, store: Store) -> None:
    plan = load_batch(write_batch(tmp_path, 1, 1))
    run = await create_batch(store, plan, 1)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        from ampsm_tui.engine.procinfo import process_start_time

        await store.claim_batch(run.id, sleeper.pid, process_start_time(sleeper.pid), concurrency=1)
        from ampsm_tui.engine.errors import UsageError

        with pytest.raises(UsageError, match="is running in process"):
            await BatchScheduler(store, run.id, subprocess_runner(tmp_path / "l")).run()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert is_stalled(await store.get_batch(run.id))  # type: ignore[arg-type]
