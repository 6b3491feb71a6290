"""The Ray executor: each batch item a Ray task; the driver (this process) alone writes the DB.

An item's task gets the repository as a git bundle of its base branch (shipped once per repo
through the object store, so a worker needs no access to the driver's disk or the origin), runs the
session there with the same engine code as the local executor (a private, throw-away DB on the
worker), and returns the session branch as another bundle plus the session's rows. The driver
fetches the branch into the item's repo, checks it out in the session's worktree and writes the
rows in one transaction: the session is then reviewed and landed like a local one. While it runs,
the task's events (agent output, commits, tests) stream to the driver's bus through a small actor
pinned to the driver's node, as do the node that runs it and the agent's process group.

- Resources: `ray.num_cpus` and `ray.memory_mb` per task; a cluster that advertises a resource
  `ampsm-agent-<agent>` (say 4 per node for an agent's rate limit) gets one unit asked per item.
- Loss of a worker or node: Ray runs the task again (`ray.max_retries`); each attempt starts from a
  fresh clone, so a lost attempt leaves nothing. A lost task past its retries ends the item `error`,
  and `batch resume` runs it again. An item whose session reached the driver is never run again.
- Cancel: the task is cancelled (the session's agent is stopped by the engine on the worker), then
  the agent's process group is terminated on its node by a task pinned there (the agent runs in its
  own session, so a killed worker process would not take it along). A watchdog process per task
  stops the agent when the worker process dies under it (a force cancel, the job of a SIGKILLed
  driver) and removes the task's scratch folder.
- `bench start --executor ray` runs each instance's agent session the same way (`RaySessions`); the
  patch is taken and graded on the driver.
- Secrets (API keys, git identity, `ray.forward_env`) reach workers only as the task's runtime
  environment variables: never in task arguments, the DB or the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..errors import AmpsmError, ErrorCode, UsageError
from ..models import BatchItem, BatchItemStatus, Iteration, Session, Thread, ToolCall

log = logging.getLogger(__name__)

#: Git identity variables the workers get (commits there are the user's, as here).
GIT_IDENTITY = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")
#: How long a cancelled task gets to stop its agent before the worker process is killed.
CANCEL_GRACE_S = 10.0
#: Drains of the event sink (0.1 s apart) a cancel waits for an agent's group to be reported.
CANCEL_REPORT_POLLS = 30
#: How often the driver takes the events the tasks sent.
DRAIN_INTERVAL_S = 0.1
#: How often a task sends the events it collected.
EVENT_FLUSH_S = 0.1


def agent_resource(agent: str) -> str:
    """The custom resource that limits how many items of `agent` a node runs at once."""
    return f"ampsm-agent-{agent}"


def worker_env(forward: list[str]) -> dict[str, str]:
    """The variables a task's runtime environment carries: agent API keys (keyring or env), the git
    identity and `ray.forward_env`; only those set here."""
    from ..secrets import KEY_VARIABLES, get_api_key

    env: dict[str, str] = {}
    for name in KEY_VARIABLES:
        value = get_api_key(name)
        if value:
            env[name] = value
    for name in (*GIT_IDENTITY, *forward):
        value = os.environ.get(name)
        if value:
            env[name] = value
    return env


class EventSink:
    """An actor on the driver's node: tasks put messages, the driver drains them."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, ...]] = []

    def put(self, message: tuple[Any, ...]) -> None:
        self.messages.append(message)

    def drain(self) -> list[tuple[Any, ...]]:
        out, self.messages = self.messages, []
        return out


# -- the worker side ------------------------------------------------------------------------------


def run_on_worker(job: dict[str, Any], bundle: bytes, sink: Any) -> dict[str, Any]:
    """The task: one item's session on this worker, returned as rows and a branch bundle."""
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    sink.put.remote(("node", job["item"]["id"], node_id, socket.gethostname()))
    return asyncio.run(_work(job, bundle, sink, node_id))


async def _work(job: dict[str, Any], bundle: bytes, sink: Any, node_id: str) -> dict[str, Any]:
    from ..config import Config, NotificationsConfig
    from ..engine import Engine
    from ..events import Event, MetricsEventBus
    from ..git.runner import git
    from ..git.transfer import bundle_branch, clone_bundle
    from ..procgroup import group_alive, kill_popen, terminate_group
    from ..store import Store

    item = BatchItem.model_validate(job["item"])
    tmp = Path(tempfile.mkdtemp(prefix="ampsm-ray-"))
    agents: list[int] = []
    watchdog = _start_watchdog(tmp)
    try:
        (tmp / "base.bundle").write_bytes(bundle)
        repo = tmp / "repo" / job["repo_name"]
        await clone_bundle(tmp / "base.bundle", item.base_branch, repo)
        for key, value in job["git_config"].items():
            await git("config", key, value, cwd=repo)
        config = Config.model_validate(job["config"])
        config.config_dir = tmp / "home"
        config.database.path = str(tmp / "home" / "sessions.db")
        config.notifications = NotificationsConfig(desktop=False)  # the driver notifies, once
        store = Store.from_config(config)
        await store.open()
        engine = Engine(config, store, MetricsEventBus())

        outbox: list[Event] = []

        def forward(event: Event) -> None:
            outbox.append(event)

        async def flush() -> None:  # one actor call per tick, not one per agent line
            while True:
                await asyncio.sleep(EVENT_FLUSH_S)
                if outbox:
                    sink.put.remote(("events", item.id, outbox[:]))
                    outbox.clear()

        engine.bus.subscribe("*", forward)
        flusher = asyncio.create_task(flush())
        watch: asyncio.Task[None] | None = None
        try:
            session = await engine.sessions.create(
                repo=repo,
                name=item.name,
                prompt=item.prompt,
                script=item.script,
                agent=item.agent,
                agent_cmd=item.agent_cmd,
                model=item.model,
                timeout_s=item.timeout_s,
                base=item.base_branch,
                batch_item_id=item.id if job["batch_item"] else None,
                setup=item.setup,
            )
            watch = asyncio.create_task(_watch_agent(store, session.id, item.id, node_id, sink, agents, tmp))
            if str(session.status) != "error":
                await engine.sessions.iterate(session.id, item.prompt)
            watch.cancel()
            session = await store.get_session(session.id) or session
            out = tmp / "session.bundle"
            tip = (await git("rev-parse", f"refs/heads/{session.branch}", cwd=repo)).stdout.strip()
            shipped = await bundle_branch(repo, session.branch, out, exclude=job["base_sha"])
            iterations = await store.list_iterations(session.id)
            raw_logs: dict[int, bytes] = {}
            for it in iterations:
                path = Path(it.raw_log_path) if it.raw_log_path else None
                if path is not None and path.is_file():
                    raw_logs[it.number] = path.read_bytes()
            return {
                "node_id": node_id,
                "host": socket.gethostname(),
                "session": session.model_dump(mode="json"),
                "iterations": [it.model_dump(mode="json") for it in iterations],
                "tool_calls": [c.model_dump(mode="json") for c in await store.list_tool_calls(session_id=session.id)],
                "threads": [t.model_dump(mode="json") for t in await store.list_threads(session.id)],
                "raw_logs": raw_logs,
                "tip": tip,
                "bundle": out.read_bytes() if shipped else None,
            }
        finally:
            if watch is not None:
                watch.cancel()
            flusher.cancel()
            # awaited: Ray runs one caller's actor calls in order, so every event of this task is in
            # the sink before its result reaches the driver
            with contextlib.suppress(Exception):
                await sink.put.remote(("events", item.id, outbox[:]))
            await engine.close(notify_timeout=1.0)
    finally:
        for pgid in agents:  # the engine stops its agent on a cancel; a group left over goes here
            if group_alive(pgid):
                await terminate_group(pgid, grace_s=2.0)
        kill_popen(watchdog)  # its work is done here; the group holds its `sleep` too
        shutil.rmtree(tmp, ignore_errors=True)


#: Outlives a worker process killed under its task (a force cancel, the driver's job ending when the
#: driver is SIGKILLed): the agent runs in its own session, so nothing else would stop it. Once the
#: worker is gone it stops the process groups of every process working in the task's scratch folder
#: and of the agents the task recorded, then removes the folder. Plain Python, no ampsm import: it
#: must start fast and depend on nothing. argv: worker pid, scratch folder.
WATCHDOG = """\
import os, shutil, signal, sys, time
worker, scratch = int(sys.argv[1]), sys.argv[2]
def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
        return stat[stat.rfind(")") + 2] != "Z"  # a zombie worker is gone (its reaper may be slow)
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not os.path.isdir("/proc")
while alive(worker):
    time.sleep(0.5)
def groups():
    found = set()
    try:
        with open(os.path.join(scratch, "agents")) as fh:
            found.update(int(line) for line in fh if line.strip())
    except (OSError, ValueError):
        pass
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
                if cwd == scratch or cwd.startswith(scratch + os.sep):
                    found.add(os.getpgid(int(entry)))
            except OSError:
                pass
    found.discard(os.getpgid(0))
    return found
for sig, pause in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 0.0)):
    for group in groups():
        try:
            os.killpg(group, sig)
        except OSError:
            pass
    time.sleep(pause)
shutil.rmtree(scratch, ignore_errors=True)
"""


def _start_watchdog(tmp: Path) -> subprocess.Popen[bytes]:
    import sys

    return subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", WATCHDOG, str(os.getpid()), str(tmp)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def _watch_agent(
    store: Any, session_id: str, item_id: str, node_id: str, sink: Any, seen: list[int], tmp: Path
) -> None:
    """Tell the driver (and this task's watchdog) the agent's process group as soon as it runs, so a
    cancel can kill it even if this worker process is gone by then."""
    while True:
        session = await store.get_session(session_id)
        if session is not None and session.agent_pid and session.agent_pid not in seen:
            seen.append(session.agent_pid)
            with (tmp / "agents").open("a", encoding="utf-8") as fh:
                fh.write(f"{session.agent_pid}\n")
            sink.put.remote(("agent", item_id, node_id, session.agent_pid, session.agent_started_at))
        await asyncio.sleep(0.05)


def reap_group(pgid: int) -> bool:
    """On the agent's node: terminate its process group (SIGTERM, then SIGKILL). True when something
    was still running. A live group's id cannot have been reused: a pid is not handed out while a
    group of that id exists."""
    from ..procgroup import group_alive, terminate_group

    if not group_alive(pgid):
        return False
    asyncio.run(terminate_group(pgid, grace_s=2.0))
    return True


# -- the driver side ------------------------------------------------------------------------------


class RaySessions:
    """Sessions run on a Ray cluster and received here: the batch executor's and the benchmark
    runner's one way there and back."""

    def __init__(self, engine: Any, address: str | None) -> None:
        self.engine = engine
        self.address = address
        self._joined = False
        self._sink: Any = None
        self._drainer: asyncio.Task[None] | None = None
        self._bundles: dict[tuple[str, str], tuple[Any, str]] = {}
        self._bundle_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._agents: dict[str, tuple[str, int, float | None]] = {}  # item id -> (node, pgid, started)
        self._tmp: Path | None = None
        self._remote: Any = None
        self._reaper: Any = None
        #: told the node (id, host) an item's task runs on, as soon as it starts there
        self.on_node: Callable[[str, str, str], Awaitable[None]] | None = None

    async def open(self, batch_id: str) -> None:
        try:
            import ray
        except ImportError:
            raise AmpsmError(ErrorCode.AGENT, "--executor ray needs Ray: pip install 'ampsm-tui[ray]'") from None
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if not ray.is_initialized():
            try:
                await asyncio.to_thread(
                    ray.init, address=self.address, log_to_driver=False, logging_level=logging.WARNING
                )
            except Exception as exc:
                raise AmpsmError(
                    ErrorCode.AGENT, f"cannot join the Ray cluster {self.address or '(local)'}: {exc}"
                ) from None
            self._joined = True
        here = ray.get_runtime_context().get_node_id()
        self._sink = (
            ray.remote(EventSink)
            .options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False))
            .remote()
        )
        self._remote = ray.remote(run_on_worker)
        self._reaper = ray.remote(reap_group)
        self._tmp = Path(tempfile.mkdtemp(prefix="ampsm-ray-driver-"))
        self._drainer = asyncio.create_task(self._drain(), name=f"ray-events-{batch_id}")

    async def close(self) -> None:
        import ray

        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(BaseException):
                await self._drainer
            with contextlib.suppress(Exception):
                await self._drain_once()
        if self._sink is not None:
            with contextlib.suppress(Exception):
                ray.kill(self._sink)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        if self._joined:
            await asyncio.to_thread(ray.shutdown)

    # -- events ------------------------------------------------------------------------------

    async def _drain(self) -> None:
        while True:
            try:
                await self._drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("ray executor: could not read the tasks' events", exc_info=True)
            await asyncio.sleep(DRAIN_INTERVAL_S)

    async def _drain_once(self) -> None:
        messages = await self._sink.drain.remote()
        for message in messages:
            kind, item_id = message[0], message[1]
            if kind == "node":
                if self.on_node is not None:
                    await self.on_node(item_id, message[2], message[3])
            elif kind == "agent":
                self._agents[item_id] = (message[2], message[3], message[4])
            elif kind == "events":
                for event in message[2]:
                    await self.engine.bus.publish(event)

    # -- one item ----------------------------------------------------------------------------

    async def run_session(self, item: BatchItem, *, batch_item: bool = True) -> tuple[Session, Iteration | None, str]:
        """Run the item's session on the cluster and receive it here: its session (as this DB has
        it), its last iteration and the node that ran it. A task lost past its retries, or failing
        there, raises `ItemFailed` (error)."""
        import ray
        from ray.exceptions import RayError, TaskCancelledError

        from ..scheduler import ItemFailed

        job, bundle = await self._job(item, batch_item=batch_item)
        options: dict[str, Any] = {
            "num_cpus": self.engine.config.ray.num_cpus,
            "max_retries": self.engine.config.ray.max_retries,
            "retry_exceptions": False,
            "runtime_env": {"env_vars": worker_env(self.engine.config.ray.forward_env)},
            "name": f"ampsm:{item.name}",
        }
        if self.engine.config.ray.memory_mb:
            options["memory"] = self.engine.config.ray.memory_mb * 1024 * 1024
        wanted = agent_resource(item.agent)
        if wanted in ray.cluster_resources():
            options["resources"] = {wanted: 1}
        ref = self._remote.options(**options).remote(job, bundle, self._sink)
        try:
            result = await ref
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel(item, ref))
            raise
        except TaskCancelledError:
            raise ItemFailed(BatchItemStatus.ABORTED, "cancelled") from None
        except RayError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, AmpsmError | UsageError):  # the engine's own error there, said as a local run says it
                raise cause from None
            if isinstance(cause, BaseException):
                raise ItemFailed(BatchItemStatus.ERROR, f"{type(cause).__name__}: {_first_line(cause)}") from None
            raise ItemFailed(BatchItemStatus.ERROR, f"ray: {type(exc).__name__}: {_first_line(exc)}") from None
        self._agents.pop(item.id, None)
        task = asyncio.ensure_future(self._receive(item, result, batch_item=batch_item))
        try:  # the branch and the rows land whole, also when the run is stopped meanwhile
            session, last = await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await task
            raise
        return session, last, result["node_id"]

    async def _job(self, item: BatchItem, *, batch_item: bool = True) -> tuple[dict[str, Any], Any]:
        """What the task gets: the item, the config (notifications dropped), the repo's base branch as
        a bundle in the object store (made once per repo and base)."""
        import ray

        from ..git.repo import repo_paths
        from ..git.runner import git
        from ..git.transfer import bundle_branch

        root = Path((await repo_paths(item.repo_path)).root)
        key = (str(root), item.base_branch)
        async with self._bundle_locks.setdefault(key, asyncio.Lock()):  # one bundle per repo and base
            if key not in self._bundles:
                assert self._tmp is not None
                out = self._tmp / f"base-{len(self._bundle_locks)}.bundle"
                try:
                    await bundle_branch(root, item.base_branch, out)
                except Exception as exc:
                    raise AmpsmError(ErrorCode.GIT, f"cannot bundle {item.base_branch} of {root}: {exc}") from None
                base_sha = (await git("rev-parse", f"refs/heads/{item.base_branch}", cwd=root)).stdout.strip()
                self._bundles[key] = (await asyncio.to_thread(ray.put, out.read_bytes()), base_sha)
                out.unlink(missing_ok=True)
        bundle, base_sha = self._bundles[key]
        identity: dict[str, str] = {}
        for name in ("user.name", "user.email"):
            got = await git("config", "--get", name, cwd=root, check=False)
            if got.returncode == 0 and got.stdout.strip():
                identity[name] = got.stdout.strip()
        config = self.engine.config.model_dump(mode="json", exclude={"notifications"})
        job = {
            "item": item.model_dump(mode="json"),
            "batch_item": batch_item,
            "repo_name": root.name,
            "base_sha": base_sha,
            "git_config": identity,
            "config": config,
        }
        return job, bundle

    async def _receive(
        self, item: BatchItem, result: dict[str, Any], *, batch_item: bool = True
    ) -> tuple[Session, Iteration | None]:
        """The task's branch into the item's repo (checked out in the session's worktree), then its
        rows into the DB, then its port block: a local session's state (a finished batch item has
        none unless it keeps one, as `workspace.give_back_ports` leaves a local one)."""
        from ..fsperm import private_dir
        from ..git.repo import repo_paths
        from ..git.transfer import receive_session_branch
        from ..git.worktrees import remove_worktree
        from ..workspace import allocate_ports, keeps_ports

        engine = self.engine
        config = engine.config
        worker_session = Session.model_validate(result["session"])
        root = Path((await repo_paths(item.repo_path)).root)
        bundle_file: Path | None = None
        if result["bundle"] is not None:
            assert self._tmp is not None
            bundle_file = self._tmp / f"{worker_session.id}.bundle"
            bundle_file.write_bytes(result["bundle"])
        wt = await receive_session_branch(
            root,
            bundle=bundle_file,
            branch=worker_session.branch,
            tip=result["tip"],
            base_branch=worker_session.base_branch,
            session_id=worker_session.id,
            worktree_dir=config.git.worktree_dir,
            lock_timeout=config.git.lock_timeout,
        )
        if bundle_file is not None:
            bundle_file.unlink(missing_ok=True)
        session = worker_session.model_copy(
            update={
                "repo_path": str(root),
                "worktree_path": str(wt),
                "pid": None,
                "pid_started_at": None,
                "agent_pid": None,
                "agent_started_at": None,
            }
        )
        iterations = []
        for data in result["iterations"]:
            it = Iteration.model_validate(data)
            raw = result["raw_logs"].get(it.number)
            path = None
            if raw is not None:
                folder = config.streams_dir / session.id
                private_dir(folder)
                target = folder / f"{it.number:04d}.jsonl"
                target.write_bytes(raw)
                path = str(target)
            iterations.append(it.model_copy(update={"raw_log_path": path}))
        calls = [ToolCall.model_validate(c) for c in result["tool_calls"]]
        threads = [Thread.model_validate(t) for t in result["threads"]]
        try:
            id_map = await engine.store.import_session(session, iterations, calls, threads)
        except BaseException:
            await remove_worktree(root, wt, session.branch, session_id=session.id, force=True)
            raise
        if self.on_node is not None:
            await self.on_node(item.id, result["node_id"], result["host"])
        iterations = [it.model_copy(update={"id": id_map.get(it.id or -1)}) for it in iterations]  # ids of this DB
        if not batch_item or keeps_ports(config, session):
            with contextlib.suppress(AmpsmError):  # a full pool costs the ports, not the received work
                await allocate_ports(engine.store, config, session.id)
        return session, (iterations[-1] if iterations else None)

    async def _cancel(self, item: BatchItem, ref: Any) -> None:
        """Stop the item's task and its agent: a cancel first (the engine there stops the agent and
        cleans up), the worker process killed after a grace, and the agent's group terminated on
        its node in any case."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        with contextlib.suppress(Exception):
            ray.cancel(ref, force=False)
        finished, _ = await asyncio.to_thread(ray.wait, [ref], timeout=CANCEL_GRACE_S)
        if not finished:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        await asyncio.sleep(0)
        # the agent's group may be reported only now (its report and this cancel crossed): wait for it
        # a little, so the reaper below can stop an agent the worker side did not
        agent = None
        for _ in range(CANCEL_REPORT_POLLS):
            with contextlib.suppress(Exception):
                await self._drain_once()
            agent = self._agents.pop(item.id, None)
            if agent is not None:
                break
            await asyncio.sleep(0.1)
        if agent is None:
            return
        node, pgid, _started = agent
        try:
            await self._reaper.options(
                num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
            ).remote(pgid)
        except Exception:
            log.warning("could not stop agent group %s of item %s on node %s", pgid, item.id, node, exc_info=True)


class RayExecutor:
    """The batch executor over `RaySessions`: an item's session is received, its status is the
    local executor's rule (`status_of`), and the node that ran it is on the item."""

    name = "ray"

    def __init__(self, engine: Any, address: str | None) -> None:
        self.engine = engine
        self.sessions = RaySessions(engine, address)
        self.sessions.on_node = self._on_node

    async def open(self, batch_id: str) -> None:
        await self.sessions.open(batch_id)

    async def close(self) -> None:
        await self.sessions.close()

    async def _on_node(self, item_id: str, node_id: str, host: str) -> None:
        await self.engine.store.update_batch_item(item_id, node_id=node_id, node_host=host)

    async def run_item(self, item: BatchItem) -> BatchItemStatus:
        from ..scheduler import ItemFailed, remove_leftovers, status_of

        store = self.engine.store
        done = await store.session_for_batch_item(item.id)
        if done is not None:  # its branch and rows reached us (a driver killed before the status)
            last = await store.last_iteration(done.id)
            if last is not None and str(last.status) != "running":
                return _status(status_of(last), ItemFailed)
        if item.attempts > 1:  # a driver killed while receiving may have left a branch without rows
            await remove_leftovers(self.engine, item)
        session, last, _node = await self.sessions.run_session(item)
        await store.update_batch_item(item.id, session_id=session.id)
        if str(session.status) == "error" and last is None:
            raise ItemFailed(BatchItemStatus.ERROR, session.last_error or "setup script failed")
        if last is None:
            raise ItemFailed(BatchItemStatus.ERROR, "the session ran no iteration")
        return _status(status_of(last), ItemFailed)


def _status(pair: tuple[BatchItemStatus, str | None], failed: Any) -> BatchItemStatus:
    status, error = pair
    if error:
        raise failed(status, error)
    return status


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
