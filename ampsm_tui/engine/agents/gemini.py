"""Gemini CLI (`gemini`, npm `@google/gemini-cli`): `gemini -p PROMPT --output-format stream-json`.

Assistant text arrives in deltas: they are joined into one text event, emitted when something else
arrives (a tool call, the result) or the stream ends. Continuing uses `--resume latest` in the same
worktree (the CLI resumes by index or "latest", not by id). Its `stats.input` is the uncached part of
`input_tokens`; `cached` is the cache read.

Gemini CLI (0.61 and later) refuses to run headless in a folder it has not been told to trust (exit 55),
and without trust it silently downgrades `--yolo` to asking for approval: every worktree is a new
folder, so when approvals are bypassed ampsm trusts the worktree for that process
(`GEMINI_CLI_TRUST_WORKSPACE=true`, which older versions ignore).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .base import (
    AgentAdapter,
    AgentEvent,
    ResultEvent,
    StreamParser,
    TextEvent,
    ThreadEvent,
    ToolCallEvent,
    ToolResultEvent,
    UsageEvent,
    as_int,
    classify_error,
    summarize_input,
    summarize_output,
)


class GeminiParser(StreamParser):
    def __init__(self) -> None:
        super().__init__()
        self._text: list[str] = []
        self._started: dict[str, float] = {}

    def flush(self) -> list[AgentEvent]:
        if not self._text:
            return []
        text, self._text = "".join(self._text), []
        return [TextEvent(text=text)]

    def parse_object(self, obj: dict[str, Any]) -> list[AgentEvent] | None:
        kind = obj["type"]
        if kind == "message":
            if obj.get("role") == "assistant" and isinstance(obj.get("content"), str):
                if obj.get("delta"):
                    self._text.append(obj["content"])
                    return []
                return [*self.flush(), TextEvent(text=obj["content"])]
            return []
        if kind not in ("init", "tool_use", "tool_result", "result", "error"):
            return None  # kept as raw; buffered text stays buffered
        events = self.flush()
        last_text = events[-1].text if events and isinstance(events[-1], TextEvent) else self.last_text
        if kind == "init":
            model = obj.get("model")
            if isinstance(model, str) and model:
                self.model = model
            sid = obj.get("session_id")
            if isinstance(sid, str) and sid:
                events.append(ThreadEvent(id=sid))
        elif kind == "tool_use":
            tid = obj.get("tool_id") if isinstance(obj.get("tool_id"), str) else None
            if tid:
                self._started[tid] = time.monotonic()
            name = str(obj.get("tool_name") or "tool")
            events.append(ToolCallEvent(id=tid, name=name, input_summary=summarize_input(obj.get("parameters"))))
        elif kind == "tool_result":
            tid = obj.get("tool_id") if isinstance(obj.get("tool_id"), str) else None
            started = self._started.pop(tid, None) if tid else None
            events.append(
                ToolResultEvent(
                    id=tid,
                    ok=obj.get("status") == "success",
                    duration_ms=int((time.monotonic() - started) * 1000) if started is not None else None,
                    output_summary=summarize_output(obj.get("output") or obj.get("error") or ""),
                )
            )
        elif kind == "result":
            events += self._result(obj, last_text)
        else:
            events.append(classify_error(str(obj.get("message") or "error")))
        return events

    def _result(self, obj: dict[str, Any], last_text: str | None) -> list[AgentEvent]:
        events: list[AgentEvent] = []
        stats = obj.get("stats")
        if isinstance(stats, dict):
            cached = as_int(stats.get("cached"))
            fresh = as_int(stats["input"]) if "input" in stats else max(0, as_int(stats.get("input_tokens")) - cached)
            models = stats.get("models")
            model = next(iter(models)) if isinstance(models, dict) and len(models) == 1 else None
            events.append(
                UsageEvent(
                    scope="total",
                    input_tokens=fresh,
                    output_tokens=as_int(stats.get("output_tokens")),
                    cache_read_tokens=cached,
                    model=model if isinstance(model, str) else None,
                )
            )
        ok = obj.get("status") == "success"
        text = ""
        if not ok:
            error = obj.get("error")
            text = str(error.get("message") if isinstance(error, dict) else error or "gemini reported an error")
            events.append(classify_error(text))
        events.append(
            ResultEvent(
                ok=ok,
                text=text or (last_text or ""),
                duration_ms=as_int(stats.get("duration_ms")) if isinstance(stats, dict) else None,
                subtype=str(obj.get("status")),
            )
        )
        return events


class GeminiAdapter(AgentAdapter):
    name = "gemini"
    binary = "gemini"
    key_variable = "GEMINI_API_KEY"
    install_hint = "npm install -g @google/gemini-cli, then `gemini` to log in (or set GEMINI_API_KEY)"
    retries_itself = True  # up to 10 attempts with backoff (settings: general.maxAttempts)

    def build_argv(
        self, prompt: str, *, thread_id: str | None = None, model: str | None = None, cwd: Path | str
    ) -> list[str]:
        argv = [self.binary, "-p", prompt, "--output-format", "stream-json"]
        if self.allow_all:
            argv.append("--yolo")
        if model:
            argv += ["-m", model]
        if thread_id:
            argv += ["--resume", "latest"]
        return argv

    def extra_env(self, prompt: str) -> dict[str, str]:
        return {"GEMINI_CLI_TRUST_WORKSPACE": "true"} if self.allow_all else {}

    def new_parser(self) -> StreamParser:
        return GeminiParser()
