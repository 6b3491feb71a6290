"""The Ray executor on Ray's own multi-node test cluster on this machine (issue 20).

One cluster for the module (a head and a worker node, one CPU each: the machine is small and
shared). Real repos, the real DB, the `command` agent through `/bin/sh -c`, real Ray tasks:

- a batch of 20 items over 2 repos gives the same branches, commits and DB rows as the local executor;
- cancelling a batch kills the agents on the workers (their process groups are gone);
- removing a worker node mid-batch loses nothing, and `resume` finishes the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from ray.cluster_utils import Cluster

from ampsm_tui.engine.batch import load_batch
from ampsm_tui.engine.engine import Engine
from ampsm_tui.engine.models import BatchItem
from ampsm_tui.engine.procgroup import group_alive
from tests.conftest import git, run_cli
from tests.test_batch_file import make_repo

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: Each node runs at most one `command` agent at once, whatever the CPUs (the per-agent resource).
NODE_ARGS: dict[str, Any] = {
    "num_cpus": 1,
    "resources": {"ampsm-agent-command": 1},
    "include_dashboard": False,
    "object_store_memory": 80 * 1024 * 1024,
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head and one worker node; the driver (this test process) joins it once."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report from a test machine
    c = Cluster(initialize_head=True, head_node_args=dict(NODE_ARGS))
    c.add_node(**NODE_ARGS)
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


def batch_yaml(items: list[tuple[str, str]], *, concurrency: int = 2) -> str:
    spec = {
        "name": "ray batch",
        "repos": [{"path": "./one"}, {"path": "./two"}],
        "items": [
            {"name": name, "prompt": f"do {name}", "agent": "command", "agentCmd": cmd, "script": "test -f README.md"}
            for name, cmd in items
        ],
        "concurrency": concurrency,
    }
    return yaml.safe_dump(spec, sort_keys=False)


def workspace(root: Path, text: str) -> Path:
    make_repo(root / "one")
    make_repo(root / "two")
    (root / "batch.yaml").write_text(text)
    return root / "batch.yaml"


async def wait_for(check: Any, timeout: float = 180.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def branch_history(repo: Path, branch: str, base: str = "main") -> list[tuple[str, str]]:
    """(tree, message) of each commit the branch adds to `base`, oldest first."""
    out = git(repo, "log", "--reverse", "--format=%T%x00%B%x01", f"{base}..{branch}")
    return [tuple(part.strip("\n").split("\x00", 1)) for part in out.split("\x01") if part.strip()]  # type: ignore[misc]


SESSION_KEYS = ("name", "prompt", "base_branch", "agent", "agent_cmd", "model", "script", "status", "last_test_exit")
ITERATION_KEYS = (
    "number",
    "prompt",
    "status",
    "exit_code",
    "files_changed",
    "lines_added",
    "lines_removed",
    "input_tokens",
    "output_tokens",
    "summary",
    "test_exit_code",
    "test_log",
    "error",
    "raw_lines",
    "agent",
    "model",
)


async def snapshot(engine: Engine, batch_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    """Everything a batch left, keyed by (repo name, ordinal), without ids, times, paths and shas."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for item in await engine.store.list_batch_items(batch_id):
        assert item.session_id, item
        session = await engine.store.get_session(item.session_id)
        assert session is not None
        iterations = await engine.store.list_iterations(session.id)
        calls = await engine.store.list_tool_calls(session_id=session.id)
        repo = Path(item.repo_path)
        wt = Path(session.worktree_path)
        assert wt.is_dir() and git(wt, "rev-parse", "--abbrev-ref", "HEAD") == session.branch
        assert git(repo, "config", f"branch.{session.branch}.ampsmSession") == session.id
        assert all(it.raw_log_path and Path(it.raw_log_path).is_file() for it in iterations)
        ports = await engine.store.session_ports(session.id)
        out[(repo.name, item.ordinal)] = {
            "item": (item.name, str(item.status), item.attempts, item.error, item.base_branch),
            "session": tuple(str(getattr(session, k)) for k in SESSION_KEYS),
            "branch": session.branch.rsplit("/", 1)[0],  # amp/<slug>/<time stamp>: the stamp differs
            # the trailer names the session, whose id is new in each run
            "commits": [(t, m.replace(session.id, "<session>")) for t, m in branch_history(repo, session.branch)],
            "iterations": [tuple(str(getattr(it, k)) for k in ITERATION_KEYS) for it in iterations],
            "commit_ok": [bool(it.commit_sha) == bool(it.files_changed) for it in iterations],
            "tool_calls": [(c.name, c.args_summary, c.ok) for c in calls],
            "ports": ports is not None,
        }
    return out


async def test_twenty_items_over_two_repos_match_the_local_executor(tmp_path: Path, cluster: Cluster) -> None:
    items = [(f"task {n}", f"mkdir -p d{n} && echo {n} > d{n}/f.txt && echo more >> README.md") for n in range(9)]
    items.append(("task 9", "rm README.md"))  # its test script fails: a failed item must match too
    local_file = workspace(tmp_path / "local", batch_yaml(items))
    ray_file = workspace(tmp_path / "ray", batch_yaml(items))
    engine = await Engine.open()
    try:
        local = await engine.batches.start(load_batch(local_file), 2)
        assert str(local.status) == "done"
        seen: list[Any] = []
        engine.bus.subscribe("*", seen.append)  # the tasks' events stream to the driver's bus
        remote = await engine.batches.start(load_batch(ray_file), 2, executor="ray")
        assert str(remote.status) == "done", [i.error for i in await engine.store.list_batch_items(remote.id)]
        want = await snapshot(engine, local.id)
        got = await snapshot(engine, remote.id)
        assert len(want) == 20
        assert got == want
        ray_sessions = {i.session_id for i in await engine.store.list_batch_items(remote.id)}
        for topic in ("session.created", "iteration.started", "git.commit", "test.finished", "iteration.finished"):
            got_ids = {e.session_id for e in seen if e.topic == topic and e.session_id in ray_sessions}
            assert got_ids == ray_sessions, topic
        nodes = {i.node_id or "" for i in await engine.store.list_batch_items(remote.id)}
        alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        assert nodes <= alive
        assert all(i.node_id is None for i in await engine.store.list_batch_items(local.id))
    finally:
        await engine.close()
    for repo in ("one", "two"):  # the ray run's branches are the only new refs in its repos
        branches = git(tmp_path / "ray" / repo, "branch", "--format=%(refname:short)").split()
        assert sorted(b.rsplit("/", 1)[0] for b in branches if b != "main") == sorted(
            f"amp/task-{n}" for n in range(10)
        )

    # `batch status` shows the node of each item (run as the real CLI against the same DB)
    env = {**os.environ, "COLUMNS": "200"}
    status = subprocess.run(
        [sys.executable, "-m", "ampsm_tui", "batch", "status", remote.id],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    assert "node" in status.stdout.split()
    for node in nodes:
        assert f"{socket.gethostname()} {node[:8]}" in status.stdout


async def test_cancel_kills_the_agents_on_the_workers(tmp_path: Path, cluster: Cluster) -> None:
    pids = tmp_path / "pids"
    items = [(f"sleeper {n}", f"echo $$ >> {pids}; sleep 300") for n in range(2)]
    batch = workspace(tmp_path / "ws", batch_yaml(items))
    engine = await Engine.open()
    try:
        run = await engine.batches.create(load_batch(batch), 2)
        task = asyncio.create_task(engine.batches.run(run, executor="ray"))

        async def two_agents() -> list[int] | None:
            if task.done():
                task.result()
            found = [int(p) for p in pids.read_text().split()] if pids.exists() else []
            return found if len(found) >= 2 else None

        agents = await wait_for(two_agents, what="two agents running on the cluster")
        assert all(group_alive(p) for p in agents)
        engine.batches.stop(run.id)  # what Ctrl-C does
        stopped = await asyncio.wait_for(task, 120)
        assert str(stopped.status) == "aborted"

        async def all_gone() -> bool:
            return not any(group_alive(p) for p in agents)

        await wait_for(all_gone, timeout=120, what="the agents' process groups to be gone")
        items_after = await engine.store.list_batch_items(run.id)
        assert {str(i.status) for i in items_after} <= {"aborted", "pending"}
    finally:
        await engine.close()


async def test_a_killed_worker_process_takes_its_agent_along(tmp_path: Path, cluster: Cluster) -> None:
    """A worker process killed under its task (a force cancel, the driver's job ending after a
    SIGKILL) would leave the agent running in its own session; the task's watchdog stops it."""
    pids = tmp_path / "pids"
    batch = workspace(tmp_path / "ws", batch_yaml([("orphan", f"echo $$ $PPID >> {pids}; sleep 300")]))
    engine = await Engine.open()
    try:
        run = await engine.batches.create(load_batch(batch), 1)
        task = asyncio.create_task(engine.batches.run(run, 1, executor="ray"))

        async def first_agent() -> list[int] | None:
            if task.done():
                task.result()
            return [int(p) for p in pids.read_text().split()] if pids.exists() and pids.read_text() else None

        agent, worker = await wait_for(first_agent, what="an agent running on the cluster")
        assert group_alive(agent)
        os.kill(worker, signal.SIGKILL)  # the Ray worker process running the item's task

        async def agent_gone() -> bool:
            return not group_alive(agent)

        await wait_for(agent_gone, timeout=60, what="the killed worker's agent to be stopped")
    finally:
        engine.batches.stop(run.id)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 120)
        await engine.close()
    remaining = [int(p) for p in pids.read_text().split()[::2]]
    for pgid in remaining:  # a retried attempt's agent was cancelled with the batch
        await wait_for(lambda pgid=pgid: _gone(pgid), timeout=60, what=f"agent {pgid} to be gone")


async def _gone(pgid: int) -> bool:
    return not group_alive(pgid)


async def test_losing_a_worker_node_loses_nothing_and_resume_finishes(
    tmp_path: Path, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [(f"job {n}", f"sleep 2; echo {n} > out.txt") for n in range(4)]
    batch = workspace(tmp_path / "ws", batch_yaml(items))
    # no retry: the lost item ends `error` and waits for resume. The workers' scratch folders go
    # under this test's folder (the lost node's is never cleaned by it).
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    (Path(os.environ["AMPSM_CONFIG_DIR"]) / "config.yaml").write_text(
        "ray:\n  max_retries: 0\n  forward_env: [TMPDIR]\n"
    )
    worker = next(n for n in cluster.worker_nodes)
    engine = await Engine.open()
    try:
        run = await engine.batches.create(load_batch(batch), 2)
        task = asyncio.create_task(engine.batches.run(run, executor="ray"))

        async def running_on_worker() -> BatchItem | None:
            if task.done():
                task.result()
            for item in await engine.store.list_batch_items(run.id):
                if str(item.status) == "running" and item.node_id == worker.node_id:
                    return item
            return None

        lost = await wait_for(running_on_worker, what="an item running on the worker node")
        cluster.remove_node(worker, allow_graceful=False)
        first = await asyncio.wait_for(task, 300)
        after_loss = {i.id: i for i in await engine.store.list_batch_items(run.id)}
        assert str(after_loss[lost.id].status) == "error" and "ray" in (after_loss[lost.id].error or "")
        assert str(first.status) == "failed"
        done_before = {i.id for i in after_loss.values() if str(i.status) == "succeeded"}
        sessions_before = {i.id: i.session_id for i in after_loss.values() if i.id in done_before}

        cluster.add_node(**NODE_ARGS)
        cluster.wait_for_nodes()
        resumed = await engine.batches.resume(run.id, executor="ray")
        assert str(resumed.status) == "done"
        final = await engine.store.list_batch_items(run.id)
        assert all(str(i.status) == "succeeded" for i in final)
        for item in final:  # every item has its branch with its work, in its repo
            session = await engine.store.get_session(item.session_id or "")
            assert session is not None
            assert git(Path(item.repo_path), "show", f"{session.branch}:out.txt") == item.name.split()[-1]
            if item.id in done_before:  # reached the driver before the loss: never run again
                assert item.session_id == sessions_before[item.id]
                assert len(await engine.store.list_iterations(session.id)) == 1
        by_item = [s.batch_item_id for s in await engine.store.list_sessions() if s.batch_item_id]
        assert sorted(by_item) == sorted(i.id for i in final)  # one session per item, none duplicated

        # A driver killed after an item's branch and rows arrived, before its status was written,
        # leaves it `running`: resume takes the received session, nothing runs again.
        again = final[0]
        await engine.store.update_batch_item(again.id, status="running")
        await engine.store.update_batch(run.id, status="running", pid=None)
        branches = git(Path(again.repo_path), "branch", "--format=%(refname:short)")
        assert str((await engine.batches.resume(run.id, executor="ray")).status) == "done"
        fresh = await engine.store.get_batch_item(again.id)
        assert fresh is not None and str(fresh.status) == "succeeded" and fresh.session_id == again.session_id
        assert git(Path(again.repo_path), "branch", "--format=%(refname:short)") == branches
        assert len(await engine.store.list_iterations(again.session_id or "")) == 1
    finally:
        await engine.close()


async def test_keys_reach_the_workers_only_through_the_runtime_environment(
    tmp_path: Path, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent on the worker sees the key; the task's arguments, the DB and the log never hold it."""
    from ampsm_tui.engine.executors.ray import RayExecutor

    key = "sk-ant-" + "k3y" * 10
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    monkeypatch.setenv("AMPSM_TEST_FORWARDED", "forwarded")
    monkeypatch.setenv("AMPSM_TEST_NOT_FORWARDED", "kept")
    (Path(os.environ["AMPSM_CONFIG_DIR"]) / "config.yaml").write_text("ray:\n  forward_env: [AMPSM_TEST_FORWARDED]\n")
    cmd = "printenv ANTHROPIC_API_KEY | sha256sum > key.txt; env | grep AMPSM_TEST_ | sort > env.txt"
    batch = workspace(tmp_path / "ws", batch_yaml([("keyed", cmd)]))
    engine = await Engine.open()
    try:
        run = await engine.batches.start(load_batch(batch), 2, executor="ray")
        assert str(run.status) == "done"
        item = (await engine.store.list_batch_items(run.id))[0]
        executor = RayExecutor(engine, None)
        await executor.open(run.id)
        try:
            job, _bundle = await executor.sessions._job(item)
        finally:
            await executor.close()
        assert key not in repr(job)
        for item in await engine.store.list_batch_items(run.id):
            session = await engine.store.get_session(item.session_id or "")
            assert session is not None
            digest = git(Path(item.repo_path), "show", f"{session.branch}:key.txt").split()[0]
            assert digest == hashlib.sha256((key + "\n").encode()).hexdigest()
            assert git(Path(item.repo_path), "show", f"{session.branch}:env.txt") == "AMPSM_TEST_FORWARDED=forwarded"
    finally:
        await engine.close()
    home = Path(os.environ["AMPSM_CONFIG_DIR"])
    for path in [*home.rglob("*"), engine.config.db_path]:
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


async def test_the_per_agent_resource_limits_agents_per_node(tmp_path: Path, cluster: Cluster) -> None:
    """Tasks that ask no CPU (`ray.num_cpus: 0`) are still one `command` agent per node at once: the
    cluster's `ampsm-agent-command` resource is asked for by each item."""
    running, seen = tmp_path / "running", tmp_path / "seen"
    running.mkdir()
    cmd = f"mkdir {running}/$$; ls {running} | wc -l >> {seen}; sleep 1; rmdir {running}/$$"
    batch = workspace(tmp_path / "ws", batch_yaml([(f"limited {n}", cmd) for n in range(3)], concurrency=6))
    (Path(os.environ["AMPSM_CONFIG_DIR"]) / "config.yaml").write_text("ray:\n  num_cpus: 0\n")
    engine = await Engine.open()
    try:
        run = await engine.batches.start(load_batch(batch), 6, executor="ray")
        assert str(run.status) == "done"
    finally:
        await engine.close()
    counts = [int(n) for n in seen.read_text().split()]
    assert len(counts) == 6 and max(counts) <= len(cluster.list_all_nodes())


def test_the_local_executor_stays_the_default_and_never_imports_ray(tmp_path: Path) -> None:
    """A headless `batch start` without `--executor ray` runs in this process and loads no Ray."""
    batch = workspace(tmp_path / "ws", batch_yaml([("plain", "echo hi > hi.txt")]))
    code = (
        "import sys, ampsm_tui.cli\n"
        "try:\n"
        f"    status = ampsm_tui.cli.main(['batch', 'start', '-f', {str(batch)!r}, '--json'])\n"
        "except SystemExit as exc:\n"
        "    status = exc.code\n"
        "print('STATUS', status, 'RAY', 'ray' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert "STATUS 0 RAY False" in out.stdout, out.stdout + out.stderr


def test_an_engine_error_crosses_the_process_boundary_whole() -> None:
    """A worker's AmpsmError reaches the driver as itself (code, message, details), so an item that
    fails on a worker says what it would have said locally."""
    import pickle

    from ampsm_tui.engine.errors import AmpsmError, ErrorCode

    error = AmpsmError(ErrorCode.WORKTREE, "cannot create\nthe details", data={"step": "create"})
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is AmpsmError
    assert (back.code, back.message, back.details, back.data, back.one_line()) == (
        ErrorCode.WORKTREE,
        "cannot create",
        "the details",
        {"step": "create"},
        "E004: cannot create",
    )


def test_bench_agents_on_the_cluster_give_the_local_predictions_and_grades(tmp_path: Path, cluster: Cluster) -> None:
    """`bench start --executor ray`: the agents run on the cluster, the branches come back, and the
    predictions (and their local grading) are the local executor's."""
    from tests import bench_fixture

    on_ray = tmp_path / "on-ray.log"  # a line per agent run inside a Ray worker

    def start(fx: bench_fixture.FixtureBench, out: Path, *args: str) -> dict[str, Any]:
        cmd = f'[ -n "$RAY_RAYLET_PID" ] && echo x >> {on_ray}; {fx.fix_cmd}'
        res = run_cli(
            "bench", "start", "--dataset", str(fx.dataset), "--repos-dir", str(fx.repos_dir),
            "--report-dir", str(out), "--json", "--agent", "command", "--agent-cmd", cmd, *args, timeout=400,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr + res.stdout
        return json.loads(res.stdout)  # type: ignore[no-any-return]

    local_fx = bench_fixture.build(tmp_path / "local")
    ray_fx = bench_fixture.build(tmp_path / "ray")
    local = start(local_fx, tmp_path / "out-local", "--predictions-only", "--run-id", "po")
    assert not on_ray.exists()
    remote = start(
        ray_fx, tmp_path / "out-ray", "--predictions-only", "--run-id", "po-ray", "--executor", "ray",
        "--address", cluster.address,
    )  # fmt: skip
    want = (tmp_path / "out-local" / "command.po.predictions.jsonl").read_text()
    got = (tmp_path / "out-ray" / "command.po-ray.predictions.jsonl").read_text()
    assert got == want and want.count("\n") == len(bench_fixture.IDS)
    assert [(r["instance_id"], r["status"]) for r in remote["instances"]] == [
        (r["instance_id"], r["status"]) for r in local["instances"]
    ]
    assert all(r["session_id"] and r["iteration_id"] for r in remote["instances"])
    assert on_ray.read_text().count("x") == len(bench_fixture.IDS)

    graded = start(ray_fx, tmp_path / "graded", "--run-id", "graded", "--executor", "ray", "--address", cluster.address)
    summary = graded["summaries"]["command"]
    assert summary["resolved_ids"] == ["acme__calc-1", "acme__calc-2"]
    assert summary["unresolved_ids"] == ["acme__calc-3"] and summary["empty_patch_ids"] == ["acme__calc-4"]


def test_an_address_without_the_ray_executor_is_refused_before_anything_runs(tmp_path: Path) -> None:
    batch = workspace(tmp_path / "ws", batch_yaml([("plain", "echo hi > hi.txt")]))
    res = run_cli("batch", "start", "-f", str(batch), "--address", "ray://head:10001")
    assert res.returncode == 2 and "--address is for --executor ray" in res.stderr
    assert run_cli("batch", "list", "--json").stdout.strip() == "[]"
