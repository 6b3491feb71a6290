"""Claude Code's `--output-format stream-json` lines, which Amp's `--stream-json` also speaks.

Differences handled here rather than in two copies:
- Claude prints one `assistant` line per content block and repeats the message's `usage` on each:
  usage is counted once per `message.id`. Amp's lines carry no message id: each line is a message.
- Claude's `result` carries the turn's usage and `total_cost_usd`: those totals win over the sum.
  Amp's `result` has neither: the assistant messages' usage is the total (priced by pricing.py).
"""

from __future__ import annotations

import time
from typing import Any

from .base import (
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
    summarize_output,
)

_SYNTHETIC_MODELS = {"<synthetic>", ""}


class StreamJsonParser(StreamParser):
    def __init__(self) -> None:
        super().__init__()
        self._seen_messages: set[str] = set()
        self._tool_started: dict[str, float] = {}
        self._pending_error: ErrorEvent | None = None

    def parse_object(self, obj: dict[str, Any]) -> list[AgentEvent] | None:
        kind = obj["type"]
        if kind == "assistant":
            return self._assistant(obj)
        if kind == "system":
            return self._system(obj)
        if kind == "user":
            return self._user(obj)
        if kind == "result":
            return self._result(obj)
        if kind == "stream_event":  # partial-message deltas (--include-partial-messages): the full
            return []  # assistant line follows, so nothing is lost by skipping them
        return None

    def flush(self) -> list[AgentEvent]:
        # an API error the agent printed but never closed with a result line
        if self.result is None and self._pending_error is not None:
            event, self._pending_error = self._pending_error, None
            return [event]
        return []

    # ---------------------------------------------------------------------------------------------
    def _system(self, obj: dict[str, Any]) -> list[AgentEvent]:
        events: list[AgentEvent] = []
        if obj.get("subtype") == "init":
            model = obj.get("model")
            if isinstance(model, str) and model not in _SYNTHETIC_MODELS:
                self.model = model
        sid = obj.get("session_id")
        if isinstance(sid, str) and sid and sid != self.thread_id:
            events.append(ThreadEvent(id=sid))
        return events

    def _assistant(self, obj: dict[str, Any]) -> list[AgentEvent]:
        # The line nearly every stream is made of, one per message: kept to the few operations it
        # needs (the text and usage nobody subscribes to are only counted, see `quiet`).
        message = obj.get("message")
        if not isinstance(message, dict):
            return []
        events: list[AgentEvent] = []
        if self.thread_id is None:
            sid = obj.get("session_id")
            if isinstance(sid, str) and sid:
                events.append(ThreadEvent(id=sid))
        content = message.get("content")
        quiet = self.quiet
        first_text: str | None = None
        if isinstance(content, list):
            for block in content:
                if not isinstance(block, dict):
                    continue
                btype = block.get("type")
                if btype == "text":
                    text = block.get("text")
                    if not isinstance(text, str):
                        continue
                    if first_text is None:
                        first_text = text
                    if "text" in quiet:
                        self.quiet_text(text)
                    else:
                        events.append(TextEvent(text=text))
                elif btype in ("tool_use", "server_tool_use"):
                    events.append(self._tool_call(block))
                elif btype in ("thinking", "redacted_thinking"):
                    if "thinking" in quiet:
                        self.quiet_event()
                        continue
                    text = block.get("thinking") or block.get("text") or ""
                    events.append(ThinkingEvent(text=text if isinstance(text, str) else ""))
        usage = message.get("usage")
        mid = message.get("id")
        if isinstance(mid, str):
            first_sight = mid not in self._seen_messages
            if mid:
                self._seen_messages.add(mid)
        else:
            first_sight = True
        if first_sight and isinstance(usage, dict):
            model = message.get("model")
            if not isinstance(model, str) or model in _SYNTHETIC_MODELS:
                model = None
            # plain ints are the rule: `as_int` (bools, floats, junk) only for the others
            i = usage.get("input_tokens", 0)
            o = usage.get("output_tokens", 0)
            cc = usage.get("cache_creation_input_tokens", 0)
            cr = usage.get("cache_read_input_tokens", 0)
            if i.__class__ is not int:
                i = as_int(i)
            if o.__class__ is not int:
                o = as_int(o)
            if cc.__class__ is not int:
                cc = as_int(cc)
            if cr.__class__ is not int:
                cr = as_int(cr)
            if "usage" in quiet:
                self.quiet_usage(i, o, cc, cr, model)
            else:
                events.append(
                    UsageEvent(
                        scope="message",
                        input_tokens=i,
                        output_tokens=o,
                        cache_creation_tokens=cc,
                        cache_read_tokens=cr,
                        model=model,
                    )
                )
        if "error" in obj:
            err = obj["error"]
            if isinstance(err, str) and err:
                text = first_text if first_text is not None else err
                self._pending_error = classify_error(f"{err}: {text}" if text != err else err)
        return events

    def _tool_call(self, block: dict[str, Any]) -> ToolCallEvent:
        tid = block.get("id")
        if not isinstance(tid, str):
            tid = None
        if tid:
            self._tool_started[tid] = time.monotonic()
        return ToolCallEvent(
            id=tid, name=str(block.get("name") or "tool"), input_summary=summarize_input(block.get("input"))
        )

    def _user(self, obj: dict[str, Any]) -> list[AgentEvent]:
        message = obj.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        events: list[AgentEvent] = []
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict) or block.get("type") != "tool_result":
                continue
            tid = block.get("tool_use_id") if isinstance(block.get("tool_use_id"), str) else None
            started = self._tool_started.pop(tid, None) if tid else None
            duration = int((time.monotonic() - started) * 1000) if started is not None else None
            events.append(
                ToolResultEvent(
                    id=tid,
                    ok=not bool(block.get("is_error")),
                    duration_ms=duration,
                    output_summary=summarize_output(block.get("content")),
                )
            )
        return events

    def _result(self, obj: dict[str, Any]) -> list[AgentEvent]:
        events: list[AgentEvent] = []
        sid = obj.get("session_id")
        if isinstance(sid, str) and sid and sid != self.thread_id:
            events.append(ThreadEvent(id=sid))
        is_error = bool(obj.get("is_error"))
        subtype = obj.get("subtype") if isinstance(obj.get("subtype"), str) else None
        ok = not is_error and subtype in (None, "success")
        text = obj.get("result")
        error = obj.get("error")
        if not isinstance(text, str):
            text = error if isinstance(error, str) else ""
        usage = obj.get("usage")
        cost = obj.get("total_cost_usd")
        # On `--resume`, Claude Code restores the session's cost and per-model counters, so
        # `total_cost_usd` and `modelUsage` are the whole thread's; `usage` and
        # `model_usage_since_last_result` are this turn's. The turn's own figure wins when given.
        per_turn = obj.get("model_usage_since_last_result")
        model_usage = per_turn if isinstance(per_turn, dict) and per_turn else obj.get("modelUsage")
        if isinstance(per_turn, dict) and per_turn:
            costs = [m.get("costUSD") for m in per_turn.values() if isinstance(m, dict)]
            numbers = [float(c) for c in costs if isinstance(c, int | float) and not isinstance(c, bool)]
            if numbers and len(numbers) == len(costs):
                cost = sum(numbers)
        if isinstance(usage, dict):
            events.append(
                UsageEvent(
                    scope="total",
                    input_tokens=as_int(usage.get("input_tokens")),
                    output_tokens=as_int(usage.get("output_tokens")),
                    cache_creation_tokens=as_int(usage.get("cache_creation_input_tokens")),
                    cache_read_tokens=as_int(usage.get("cache_read_input_tokens")),
                    cost_usd=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
                    model=_single_model(model_usage),
                )
            )
        if not ok:
            status = obj.get("api_error_status")
            message = text or (error if isinstance(error, str) else "") or f"agent reported {subtype or 'an error'}"
            events.append(classify_error(message, status if isinstance(status, int) else None))
            self._pending_error = None
        events.append(
            ResultEvent(
                ok=ok,
                text=text,
                duration_ms=as_int(obj.get("duration_ms")) if obj.get("duration_ms") is not None else None,
                num_turns=as_int(obj.get("num_turns")) if obj.get("num_turns") is not None else None,
                subtype=subtype,
            )
        )
        return events


def _single_model(model_usage: Any) -> str | None:
    if isinstance(model_usage, dict) and len(model_usage) == 1:
        (name,) = model_usage.keys()
        return name if isinstance(name, str) else None
    return None
