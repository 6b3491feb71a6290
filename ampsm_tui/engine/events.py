"""The MetricsEventBus: everything the engine does is published here once, as a typed event.

The TUI's widgets, the headless `--stream` printer, notifications and user code are all just
subscribers. Subscribing is by exact topic (`iteration.started`), by prefix (`iteration.*`) or to
everything (`*`). A failing subscriber is logged and never breaks the engine.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from .clock import now_iso

log = logging.getLogger(__name__)


class Event(BaseModel):
    model_config = ConfigDict(defer_build=True)
    topic: ClassVar[str] = "event"
    at: str = Field(default_factory=now_iso)

    def payload(self) -> dict[str, Any]:
        return {"topic": self.topic, **self.model_dump(mode="json")}


class SessionCreated(Event):
    topic: ClassVar[str] = "session.created"
    session_id: str
    name: str
    repo_path: str
    branch: str
    worktree_path: str


class SessionStatusChanged(Event):
    topic: ClassVar[str] = "session.status"
    session_id: str
    status: str
    previous: str | None = None
    reason: str | None = None


class IterationStarted(Event):
    topic: ClassVar[str] = "iteration.started"
    session_id: str
    iteration: int
    prompt: str
    agent: str
    model: str | None = None


class AgentEventPublished(Event):
    """One parsed event from the agent's stream (text, tool call, usage, ...)."""

    topic: ClassVar[str] = "agent.event"
    session_id: str
    iteration: int
    event: dict[str, Any]


class GitCommitted(Event):
    topic: ClassVar[str] = "git.commit"
    session_id: str
    iteration: int | None = None
    sha: str
    message: str
    files_changed: int = 0
    lines_added: int = 0
    lines_removed: int = 0


class GitConflict(Event):
    topic: ClassVar[str] = "git.conflict"
    session_id: str
    operation: str  # rebase | merge
    files: list[str]


class TestFinished(Event):
    topic: ClassVar[str] = "test.finished"
    session_id: str
    iteration: int
    exit_code: int | None
    duration_ms: int
    passed: bool
    log_tail: str = ""


class IterationFinished(Event):
    topic: ClassVar[str] = "iteration.finished"
    session_id: str
    iteration: int
    status: str
    exit_code: int | None = None
    commit_sha: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    duration_ms: int = 0
    error: str | None = None


class BatchProgress(Event):
    topic: ClassVar[str] = "batch.progress"
    batch_id: str
    total: int
    done: int
    running: int
    failed: int
    item_id: str | None = None
    item_status: str | None = None


class BatchFinished(Event):
    topic: ClassVar[str] = "batch.finished"
    batch_id: str
    status: str
    total: int
    succeeded: int
    failed: int


Handler = Callable[[Event], Awaitable[None] | None]


class MetricsEventBus:
    def __init__(self) -> None:
        self._subs: list[tuple[str, Handler]] = []

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        """Register `handler` for `topic` (`*`, `prefix.*` or exact); returns an unsubscribe function."""
        entry = (topic, handler)
        self._subs.append(entry)

        def unsubscribe() -> None:
            if entry in self._subs:
                self._subs.remove(entry)

        return unsubscribe

    on = subscribe

    @staticmethod
    def _matches(pattern: str, topic: str) -> bool:
        if pattern in ("*", topic):
            return True
        return pattern.endswith(".*") and topic.startswith(pattern[:-1])

    async def publish(self, event: Event) -> None:
        for pattern, handler in list(self._subs):
            if not self._matches(pattern, event.topic):
                continue
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event subscriber failed for %s", event.topic)
