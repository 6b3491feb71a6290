"""`--stream`: the engine's events as readable lines (or JSONL with --json), as a bus subscriber."""

from __future__ import annotations

import json
import sys
from typing import Any

from .. import format as fmt
from ..engine.events import Event
from ..engine.secrets import redact


def _line(payload: dict[str, Any], tools: dict[str, str]) -> str | None:
    topic = payload["topic"]
    if topic == "agent.event":
        ev = payload["event"]
        kind = ev.get("kind")
        if kind == "text":
            return ev.get("text", "").rstrip() or None
        if kind == "thinking":
            text = ev.get("text", "").strip().replace("\n", " ")
            return f"  … thinking: {text[:100]}" if text else None
        if kind == "tool_call":
            if ev.get("id"):
                tools[ev["id"]] = ev.get("name") or "tool"
            return f"  → {ev.get('name')} {ev.get('input_summary', '')}".rstrip()
        if kind == "tool_result":
            mark = "✓" if ev.get("ok", True) else "✗"
            name = tools.pop(ev.get("id") or "", "tool")
            took = f" in {ev['duration_ms'] / 1000:.1f}s" if ev.get("duration_ms") is not None else ""
            return f"  {mark} {name}{took}" + ("" if ev.get("ok", True) else f": {ev.get('output_summary', '')}")
        if kind == "error":
            return f"  ! {ev.get('message')}"
        if kind == "raw":
            return f"  {ev.get('text', '').rstrip()}"
        return None
    if topic == "iteration.started":
        return f"▶ iteration {payload['iteration']} ({payload['agent']}): {payload['prompt'].splitlines()[0][:80] if payload['prompt'] else ''}"
    if topic == "git.commit":
        return f"● commit {payload['sha'][:10]} {payload['message'].splitlines()[0]} (+{payload['lines_added']} -{payload['lines_removed']}, {fmt.plural(payload['files_changed'], 'file')})"
    if topic == "test.finished":
        verdict = "passed" if payload["passed"] else f"FAILED (exit {payload['exit_code']})"
        return f"■ tests {verdict} in {payload['duration_ms'] / 1000:.1f}s"
    if topic == "iteration.finished":
        spent = fmt.token_total(payload.get("input_tokens"), payload.get("output_tokens"))
        cost_text = fmt.iteration_cost(payload.get("cost_usd"), spent)
        tokens = fmt.token_split(payload.get("input_tokens"), payload.get("output_tokens"))
        return f"◆ iteration {payload['iteration']} {payload['status']}: {tokens} tokens, {cost_text}"
    if topic == "session.status":
        return f"  status → {payload['status']}" + (f" ({payload['reason']})" if payload.get("reason") else "")
    return None


class StreamPrinter:
    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        self._tools: dict[str, str] = {}  # tool_use id -> name, to name the result line

    def __call__(self, event: Event) -> None:
        payload = event.payload()
        if self.as_json:
            sys.stdout.write(redact(json.dumps(payload, default=str, ensure_ascii=False)) + "\n")
        else:
            line = _line(payload, self._tools)
            if line is None:
                return
            sys.stdout.write(redact(line) + "\n")
        sys.stdout.flush()
