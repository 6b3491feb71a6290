"""Which sessions the demo makes, driven through the real engine (SessionService, BatchService):

- `green`: a finished iteration whose tests pass, ready to review and merge;
- `failing`: an iteration whose new test fails, so the session is `awaiting-input` (iterate again and
  the agent fixes it);
- `conflict`: green, but main then changed the same line, so its merge conflicts (the conflict view);
- `stopped`: an iteration cancelled mid-stream (as `x` or Ctrl-C would), so the session is
  `interrupted` with the work it did so far committed — it can be iterated again;
- `batch`: a small finished batch of two items (each its own session), one of them merged (`done`);
- `live`: a session whose first iteration streams at human pace while the TUI is open (in headless
  mode it is created and left idle).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .workspace import DemoWorkspace, move_main

if TYPE_CHECKING:
    from ..engine.engine import Engine

#: The sessions that are already finished when the TUI opens play this many times faster.
SETUP_SPEEDUP = 20.0

SESSIONS: dict[str, tuple[str, str]] = {
    "green": ("slugify helper", "Add a slugify(text) helper to textkit, with tests."),
    "failing": ("title case", "Add title_case(text) that capitalises every word, with a test."),
    "conflict": ("word count punctuation", "Make word_count ignore punctuation (word count should skip '!')."),
    "stopped": ("release notes", "Keep NOTES.md up to date with what changed in this release."),
    "live": ("usage guide", "Write a usage guide in docs/usage.md with an example for every helper."),
}

BATCH_YAML = """\
name: demo-batch
description: Two small chores run side by side by `ampsm demo`
repos:
  - path: {repo}
    baseBranch: main
items:
  - name: changelog
    prompt: Start a CHANGELOG.md for the first release.
    script: {script}
  - name: examples
    prompt: Add a runnable example script showing each helper.
    script: {script}
concurrency: 2
"""


@dataclass
class DemoResult:
    roles: dict[str, str] = field(default_factory=dict)  # role -> session id
    batch_id: str | None = None


def set_speed(speed: float) -> None:
    """The scripted agent reads its pace from the environment it inherits."""
    os.environ["AMPSM_DEMO_SPEED"] = repr(speed)


async def build_sessions(engine: Engine, ws: DemoWorkspace, *, speed: float) -> DemoResult:
    """Create and drive every session except the live one's iteration (see `start_live`)."""
    from ..engine.batch import load_batch

    set_speed(speed * SETUP_SPEEDUP if speed > 0 else 0.0)
    result = DemoResult()

    async def session(role: str) -> str:
        name, prompt = SESSIONS[role]
        s = await engine.sessions.create(
            repo=ws.repo, name=name, prompt=prompt, script=ws.test_script, agent="amp", base="main"
        )
        result.roles[role] = s.id
        return s.id

    for role in ("green", "failing", "conflict"):
        await engine.sessions.iterate(await session(role))
    await _stopped_mid_stream(engine, await session("stopped"))
    move_main(ws)  # after the conflict session branched: same line, different change

    batch_file = ws.root / "batch.yaml"
    batch_file.write_text(
        BATCH_YAML.format(repo=json.dumps(str(ws.repo)), script=json.dumps(ws.test_script)), encoding="utf-8"
    )
    plan = load_batch(batch_file, default_base="main")
    run = await engine.batches.start(plan, plan.concurrency(None, engine.config.batch.concurrency))
    result.batch_id = run.id
    # one batch result already reviewed and merged: the dashboard shows a `done` session too
    merged = next((i for i in await engine.store.list_batch_items(run.id) if i.name == "changelog"), None)
    if merged is not None and merged.session_id:
        await engine.sessions.merge(merged.session_id)
        result.roles["merged"] = merged.session_id

    await session("live")
    save_roles(ws, result)
    return result


async def _stopped_mid_stream(engine: Engine, session_id: str) -> None:
    """Cancel an iteration once the agent has made its edit: the engine records it `interrupted`
    and commits what was done, exactly as when a user presses `x`."""
    import asyncio
    import contextlib

    edited = asyncio.Event()

    def on_event(event: Any) -> None:
        if getattr(event, "session_id", None) == session_id and event.event.kind == "tool_result":
            edited.set()

    off = engine.bus.subscribe("agent.event", on_event)
    task = asyncio.create_task(engine.sessions.iterate(session_id))
    try:
        waiter = asyncio.create_task(edited.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        off()


def save_roles(ws: DemoWorkspace, result: DemoResult) -> None:
    data: dict[str, Any] = dict(result.roles)
    if result.batch_id:
        data["batch"] = result.batch_id
    ws.roles_file.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def start_live(engine: Engine, ws: DemoWorkspace, *, speed: float) -> Any:
    """The live session's first iteration as a task of the caller's loop (the TUI's): the engine's
    shutdown cancels it, which records the iteration as interrupted."""
    import asyncio

    live = ws.roles().get("live")
    if not live:
        return None
    set_speed(speed)
    return asyncio.get_running_loop().create_task(engine.sessions.iterate(live), name="demo-live")
