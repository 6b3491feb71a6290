"""Codex CLI (`codex`, npm `@openai/codex`): `codex exec --json`, continued with `exec resume TID`.

Its `input_tokens` include the cached ones (OpenAI's convention): they are split into fresh input
and `cache_read` so the four counters add up. `reasoning_output_tokens` are part of `output_tokens`.
Codex reports no cost: pricing.py prices it by the model asked for (unpriced when none was given,
since the stream does not name it).

On `codex exec resume`, `turn.completed` carries the thread's cumulative counters, not the turn's:
the turn's own usage is the difference from the thread's counters after its previous turn, read from
the previous iteration's raw stream (each iteration keeps its own), so nothing is counted twice.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .base import (
    AgentAdapter,
    AgentEvent,
    ErrorEvent,
    ResultEvent,
    StreamParser,
    TextEvent,
    ThinkingEvent,
    ThreadEvent,
    ToolCallEvent,
    ToolResultEvent,
    UsageEvent,
    as_int,
    classify_error,
    summarize_input,
)

#: item types that are tool calls, and what they are called in the tool_calls table
_TOOL_ITEMS = {
    "command_execution": "command",
    "file_change": "file_change",
    "mcp_tool_call": "mcp",
    "web_search": "web_search",
}


class ThreadCounters(BaseModel):
    """Codex's raw counters as `turn.completed` printed them (cumulative over a resumed thread)."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    output_tokens: int = 0

    @classmethod
    def of(cls, usage: dict[str, Any]) -> ThreadCounters:
        return cls(**{name: as_int(usage.get(name)) for name in cls.model_fields})

    def minus(self, other: ThreadCounters | None) -> ThreadCounters:
        if other is None:
            return self
        if any(getattr(self, n) < getattr(other, n) for n in self.model_fields):
            return self  # counters went down: a new thread after all, this turn's own figures
        return ThreadCounters(**{n: getattr(self, n) - getattr(other, n) for n in self.model_fields})


class CodexParser(StreamParser):
    def __init__(self, baseline: ThreadCounters | None = None) -> None:
        super().__init__()
        self._started: dict[str, float] = {}
        self._last_error: str | None = None
        #: the thread's counters before this turn (None for a new thread)
        self.baseline = baseline
        #: the thread's counters after this turn, as printed
        self.cumulative: ThreadCounters | None = None

    def parse_object(self, obj: dict[str, Any]) -> list[AgentEvent] | None:
        kind = obj["type"]
        if kind == "thread.started":
            tid = obj.get("thread_id")
            return [ThreadEvent(id=tid)] if isinstance(tid, str) and tid else []
        if kind == "turn.started":
            return []
        if kind in ("item.started", "item.updated", "item.completed"):
            item = obj.get("item")
            return self._item(kind, item) if isinstance(item, dict) else []
        if kind == "turn.completed":
            raw_usage = obj.get("usage")
            self.cumulative = ThreadCounters.of(raw_usage if isinstance(raw_usage, dict) else {})
            turn = self.cumulative.minus(self.baseline)
            cached = turn.cached_input_tokens
            return [
                UsageEvent(
                    input_tokens=max(0, turn.input_tokens - cached),
                    output_tokens=turn.output_tokens,
                    cache_creation_tokens=turn.cache_write_input_tokens,
                    cache_read_tokens=cached,
                ),
                ResultEvent(ok=True, text=self.last_text or "", subtype="turn.completed"),
            ]
        if kind == "turn.failed":
            error = obj.get("error")
            message = str(error.get("message") or "turn failed") if isinstance(error, dict) else "turn failed"
            events: list[AgentEvent] = []
            if message != self._last_error:
                events.append(classify_error(message))
            return [*events, ResultEvent(ok=False, text=message, subtype="turn.failed")]
        if kind == "error":
            message = str(obj.get("message") or "error")
            self._last_error = message
            return [classify_error(message)]
        return None

    def _item(self, kind: str, item: dict[str, Any]) -> list[AgentEvent]:
        itype = item.get("type")
        iid = item.get("id") if isinstance(item.get("id"), str) else None
        done = kind == "item.completed"
        if itype == "agent_message":
            return [TextEvent(text=str(item.get("text") or ""))] if done else []
        if itype == "reasoning":
            return [ThinkingEvent(text=str(item.get("text") or ""))] if done else []
        if itype == "error":  # a warning Codex carried on after (e.g. missing model metadata)
            return [ErrorEvent(message=str(item.get("message") or "error"), fatal=False)] if done else []
        if itype in _TOOL_ITEMS:
            events: list[AgentEvent] = []
            key = iid or f"{itype}-anon"
            if key not in self._started and kind != "item.updated":
                self._started[key] = time.monotonic()
                events.append(ToolCallEvent(id=iid, name=_TOOL_ITEMS[itype], input_summary=_item_summary(item)))
            if done:
                started = self._started.pop(key, time.monotonic())
                events.append(
                    ToolResultEvent(
                        id=iid,
                        ok=_item_ok(item),
                        duration_ms=int((time.monotonic() - started) * 1000),
                        output_summary=summarize_input(item.get("aggregated_output") or item.get("status") or ""),
                    )
                )
            return events
        return []  # todo lists and other bookkeeping items: known, nothing to show


def _item_summary(item: dict[str, Any]) -> str:
    if item.get("type") == "file_change" and isinstance(item.get("changes"), list):
        paths = [c.get("path", "") for c in item["changes"] if isinstance(c, dict)]
        return summarize_input(" ".join(p for p in paths if isinstance(p, str)))
    for key in ("command", "query", "tool"):
        if item.get(key):
            return summarize_input(item[key])
    return summarize_input({k: v for k, v in item.items() if k not in ("id", "type", "status")})


def _item_ok(item: dict[str, Any]) -> bool:
    if item.get("type") == "command_execution" and item.get("exit_code") is not None:
        return item.get("exit_code") == 0
    return item.get("status") not in ("failed", "declined", "error")


class CodexAdapter(AgentAdapter):
    name = "codex"
    binary = "codex"
    key_variable = "OPENAI_API_KEY"
    install_hint = "npm install -g @openai/codex, then `codex login` (or set OPENAI_API_KEY)"
    retries_itself = True  # request_max_retries / stream_max_retries of its model provider

    def build_argv(
        self, prompt: str, *, thread_id: str | None = None, model: str | None = None, cwd: Path | str
    ) -> list[str]:
        argv = [self.binary, "exec"]
        if thread_id:
            argv += ["resume", thread_id]
        argv.append("--json")
        if model:
            argv += ["-m", model]
        argv += ["--dangerously-bypass-approvals-and-sandbox"] if self.allow_all else ["-s", "workspace-write"]
        argv.append(prompt)
        return argv

    def __init__(self, *, allow_all: bool = True) -> None:
        super().__init__(allow_all=allow_all)
        self._baseline: ThreadCounters | None = None

    def resume_from(self, previous_streams: list[Path], thread_id: str | None) -> None:
        """The thread's counters after its last completed turn: the newest earlier stream of this
        thread that has a `turn.completed` line."""
        self._baseline = None
        if not thread_id:
            return
        for path in reversed(previous_streams):
            try:
                lines = path.read_bytes().decode("utf-8", "replace").split("\n")
            except OSError:
                continue
            parser = CodexParser()
            for line in lines:
                parser.feed_line(line)
            if parser.thread_id == thread_id and parser.cumulative is not None:
                self._baseline = parser.cumulative
                return

    def new_parser(self) -> StreamParser:
        return CodexParser(self._baseline)
