"""Helpers for the TUI tests: a test config, fixed clock, seeded rows and a stand-in engine.

The stand-in is only for snapshot tests, where a real git diff would put changing hashes on
screen; every behaviour test (tests/test_tui_flows.py) drives the real Engine on a real repo.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ampsm_tui.engine.config import Config, load_config
from ampsm_tui.engine.events import MetricsEventBus
from ampsm_tui.engine.models import BatchItem, BatchRun, Iteration, Session, SessionStatus, ToolCall
from ampsm_tui.engine.store import Store

FIXED_NOW = datetime(2025, 3, 14, 15, 0, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return FIXED_NOW


def make_test_config(*, auto_update: bool = False) -> Config:
    config = load_config()
    config.ui.auto_update = auto_update
    config.ui.bell = False
    return config


SAMPLE_DIFF = """\
diff --git a/app.py b/app.py
index 1111111..2222222 100644
--- a/app.py
+++ b/app.py
@@ -1,2 +1,6 @@
 def add(a, b):
-    return a + b
+    \"\"\"Add two numbers.\"\"\"
+    return a + b
+
+def sub(a, b):
+    return a - b
diff --git a/README.md b/README.md
index 3333333..4444444 100644
--- a/README.md
+++ b/README.md
@@ -1 +1,3 @@
 # demo
+
+Now with subtraction.
diff --git a/tests/test_app.py b/tests/test_app.py
new file mode 100644
index 0000000..5555555
--- /dev/null
+++ b/tests/test_app.py
@@ -0,0 +1,4 @@
+from app import add, sub
+
+def test_sub():
+    assert sub(3, 1) == 2
"""


class StandInSessions:
    """Answers the read-only calls the snapshot screens make, with fixed text."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.diff_text = SAMPLE_DIFF

    async def diff(self, session_id: str, **_: Any) -> str:
        return self.diff_text


class StandInEngine:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.bus = MetricsEventBus()
        self.sessions = StandInSessions(store)

    async def close(self) -> None:
        await self.store.close()


async def open_store(config: Config) -> Store:
    store = Store.from_config(config)
    await store.open()
    return store


STATUSES = ["running", "awaiting-input", "error", "done", "idle", "interrupted", "archived"]


async def seed_every_status(store: Store, repo: Path | str = "/home/dev/projects/webapp") -> list[Session]:
    """One session per status, with fixed ids, times, iterations and a tool call."""
    names = {
        "running": "add-subtraction",
        "awaiting-input": "fix-login-bug",
        "error": "upgrade-deps",
        "done": "docs-readme",
        "idle": "refactor-parser",
        "interrupted": "speed-up-tests",
        "archived": "old-experiment",
    }
    sessions = []
    for n, status in enumerate(STATUSES):
        created = datetime(2025, 3, 14, 14 - n, 0, 0, tzinfo=UTC).isoformat().replace("+00:00", "Z")
        session = Session(
            id=f"sess-0000000{n}",
            name=names[status],
            prompt=f"Please {names[status].replace('-', ' ')}",
            repo_path=str(repo),
            base_branch="main",
            branch=f"amp/{names[status]}/20250314-1{n}0000",
            worktree_path=f"{repo}/.worktrees/sess-0000000{n}",
            agent="amp",
            script="pytest -q",
            status=SessionStatus(status),
            last_test_exit={"awaiting-input": 1, "done": 0, "running": 0}.get(status),
            last_error="agent exited with 1" if status == "error" else None,
            created_at=created,
        )
        await store.create_session(session)
        await store.update_session(session.id, created_at=created)
        for number in range(1, (n % 3) + 2):
            it = await store.create_iteration(
                Iteration(
                    session_id=session.id,
                    number=number,
                    prompt=session.prompt if number == 1 else "Fix the failing test",
                    status="completed",
                    started_at=created,
                    ended_at=created,
                    commit_sha=f"{n}{number}abcdef0123456789",
                    files_changed=2,
                    lines_added=10 * number,
                    lines_removed=3,
                    input_tokens=1200 * number,
                    output_tokens=340 * number,
                    cost_usd=0.0125 * number if status != "idle" else None,
                    model="claude-sonnet-4",
                    agent="amp",
                    summary=f"Iteration {number} of {names[status]}",
                    test_exit_code=0 if number > 1 or status != "awaiting-input" else 1,
                    test_log="1 failed, 3 passed" if status == "awaiting-input" else "4 passed",
                )
            )
            assert it.id is not None
            await store.add_tool_call(
                ToolCall(
                    iteration_id=it.id,
                    session_id=session.id,
                    name="Bash",
                    args_summary="pytest -q",
                    started_at=created,
                    duration_ms=1200,
                    ok=True,
                )
            )
        sessions.append(session)
    return sessions


async def seed_batch(store: Store) -> None:
    run = BatchRun(
        id="batch-00000001", name="nightly-refactors", status="running", created_at="2025-03-14T14:30:00.000Z"
    )
    items = [
        BatchItem(
            id=f"bitem-0000000{i}",
            batch_id=run.id,
            ordinal=i,
            name=f"item-{i}",
            repo_path="/home/dev/projects/webapp",
            base_branch="main",
            prompt="refactor",
            status=["succeeded", "succeeded", "failed", "running", "pending"][i],
        )
        for i in range(5)
    ]
    await store.create_batch(run, items)


async def stand_in_factory(config: Config) -> Any:
    return StandInEngine(config, await open_store(config))


async def seed_async(config: Config, *, every_status: bool = True, batch: bool = False) -> None:
    """`seed` from inside an async test (before the app opens its own store)."""
    store = await open_store(config)
    try:
        if every_status:
            await seed_every_status(store)
        if batch:
            await seed_batch(store)
    finally:
        await store.close()


def seed(config: Config, *, every_status: bool = True, batch: bool = False) -> None:
    """Write the rows in a loop of their own, before the app starts in its own."""
    import asyncio

    asyncio.run(seed_async(config, every_status=every_status, batch=batch))


def screen_text(app: Any) -> str:
    """The current screen as plain text (what a user reads), for assertions on content."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True, record=True, legacy_windows=False
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def use_fakes(monkeypatch: Any, state_dir: Path) -> None:
    """The fake agents first on PATH, a key for amp, thread state outside the repo."""
    import os

    from .conftest import FAKES

    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AMP_API_KEY", "test-key")
    monkeypatch.setenv("FAKE_AGENT_STATE", str(state_dir))


async def settle(pilot: Any, rounds: int = 3, pause: float = 0.1) -> None:
    """Wait for the app's workers (an exclusive reload cancelling an older one is fine)."""
    from textual.worker import WorkerCancelled

    for _ in range(rounds):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:
            continue
        await pilot.pause(pause)


async def wait_for(pilot: Any, predicate: Any, *, tries: int = 100, pause: float = 0.1) -> bool:
    """Poll `predicate()` (sync or async) between pauses; True once it holds. No timing assertion:
    the bound only stops a broken test from hanging."""
    import inspect

    for _ in range(tries):
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return True
        await pilot.pause(pause)
    return False


def processes_with(marker: str) -> list[int]:
    """Pids whose command line contains `marker` (to prove no agent process is left behind)."""
    import os

    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and int(entry) != os.getpid():
            found.append(int(entry))
    return found


def dashboard(app: Any) -> Any:
    """The app's current screen, which must be the dashboard."""
    from ampsm_tui.screens.dashboard import DashboardScreen

    screen = app.screen
    assert isinstance(screen, DashboardScreen), type(screen)
    return screen


def seed_parallel(config: Config) -> None:
    """A best-of group over three seeded sessions and a merge queue with one entry in each state,
    with fixed ids and times (the group and queue files live beside the config)."""
    from ampsm_tui.engine.bestof import BestOf, Candidate, save
    from ampsm_tui.engine.queue import QueueEntry, _File

    engine: Any = type("EngineLike", (), {"config": config})()
    candidates = [
        Candidate(session_id="sess-00000004", agent="amp", name="refactor-parser", passed=True, status="completed",
                  test_exit_code=0, lines_changed=13, cost_usd=0.0125, duration_s=42, rank=1),
        Candidate(session_id="sess-00000001", agent="claude", name="fix-login-bug", passed=False,
                  status="completed", test_exit_code=1, lines_changed=26, cost_usd=0.0375, duration_s=65, rank=2),
        Candidate(session_id="sess-00000002", agent="codex", name="upgrade-deps", passed=False, status="failed",
                  lines_changed=0, cost_usd=None, duration_s=12, error="agent exited with 1", rank=3),
    ]  # fmt: skip
    save(engine, BestOf(id="best-00000001", repo_path="/home/dev/projects/webapp", prompt="Refactor the parser",
                        candidates=candidates, winner="sess-00000004", created_at="2025-03-14T14:00:00.000Z"))  # fmt: skip
    at = "2025-03-14T14:50:00.000Z"
    entries = [
        QueueEntry(id="q-00000001", session_id="sess-00000003", repo_path="/home/dev/projects/webapp",
                   base_branch="main", branch="amp/docs-readme/20250314-130000", status="landed",
                   sha="0123456789abcdef", added_at=at, ended_at=at),
        QueueEntry(id="q-00000002", session_id="sess-00000001", repo_path="/home/dev/projects/webapp",
                   base_branch="main", branch="amp/fix-login-bug/20250314-110000", status="removed",
                   reason="conflict: rebase conflicts in app.py, README.md", branch_tip="fedcba9876543210",
                   added_at=at, ended_at=at),
        QueueEntry(id="q-00000003", session_id="sess-00000004", repo_path="/home/dev/projects/webapp",
                   base_branch="main", branch="amp/refactor-parser/20250314-140000", status="landing", added_at=at),
        QueueEntry(id="q-00000004", session_id="sess-00000005", repo_path="/home/dev/projects/webapp",
                   base_branch="main", branch="amp/speed-up-tests/20250314-150000", added_at=at),
    ]  # fmt: skip
    (config.config_dir / "merge-queue.json").write_text(_File(entries=entries).model_dump_json(indent=2))
