"""What this process saw of each session's run, capped, so switching sessions replays it.

Agent events and lifecycle lines are kept as the same items `OutputLog.feed*` takes; the one
output view attached to a session gets each item as it arrives (queued, never rendered here).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from . import format as fmt

if TYPE_CHECKING:
    from .engine.events import Event

Item = tuple[str, Any]


class Sink(Protocol):
    def feed(self, event: dict[str, Any]) -> None: ...

    def feed_line(self, kind: str, text: str) -> None: ...


def lifecycle_lines(event: Event) -> list[tuple[str, str]]:
    """Our own lines for engine events: iteration headers, commits, test results."""
    data: dict[str, Any] = event.model_dump()
    topic = event.topic
    if topic == "iteration.started":
        model = f" · {data['model']}" if data.get("model") else ""
        lines = [("marker", f"── iteration {data['iteration']} · {data['agent']}{model} ──")]
        if data.get("prompt"):
            lines.append(("detail", "› " + str(data["prompt"]).splitlines()[0][:200]))
        return lines
    if topic == "git.commit":
        return [
            (
                "marker",
                f"● commit {str(data['sha'])[:8]} {data['message'].splitlines()[0][:80]}"
                f"  {fmt.plural(int(data['files_changed']), 'file')} +{data['lines_added']} -{data['lines_removed']}",
            )
        ]
    if topic == "test.finished":
        seconds = (data.get("duration_ms") or 0) / 1000
        head = (
            ("pass", f"✓ tests passed in {seconds:.1f}s")
            if data.get("passed")
            else ("fail", f"✗ tests failed (exit {data.get('exit_code')}) in {seconds:.1f}s")
        )
        tail = [
            ("fail" if not data.get("passed") else "detail", line)
            for line in (data.get("log_tail") or "").splitlines()[-15:]
        ]
        return [head, *tail]
    if topic == "iteration.finished":
        spent = fmt.token_total(data.get("input_tokens"), data.get("output_tokens"))
        price = fmt.iteration_cost(data.get("cost_usd"), spent)
        tokens = fmt.token_split(data.get("input_tokens"), data.get("output_tokens"), data.get("cache_tokens"))
        line = f"── iteration {data['iteration']} {data['status']} · {tokens} · {price} ──"
        lines = [("marker", line)]
        if data.get("error"):
            lines.append(("error", f"error: {data['error']}"))
        return lines
    if topic == "git.conflict":
        return [("error", f"conflict during {data['operation']}: {', '.join(data['files'])}")]
    return []


class Transcripts:
    def __init__(self, max_items: int = 20_000) -> None:
        self.max_items = max_items
        self._items: dict[str, deque[Item]] = {}
        self._sinks: dict[str, list[Sink]] = {}
        self._seen: dict[str, set[int]] = {}

    def iterations_seen(self, session_id: str) -> set[int]:
        """Iteration numbers this process watched live (the DB history skips them)."""
        return set(self._seen.get(session_id, ()))

    def mark_seen(self, session_id: str, iteration: int) -> None:
        """An iteration watched live from elsewhere (another process's stream file)."""
        self._seen.setdefault(session_id, set()).add(iteration)

    def watched(self) -> list[str]:
        """Sessions some view shows right now."""
        return [sid for sid, sinks in self._sinks.items() if sinks]

    def _deque(self, session_id: str) -> deque[Item]:
        items = self._items.get(session_id)
        if items is None:
            items = self._items[session_id] = deque(maxlen=self.max_items)
        return items

    def add_event(self, session_id: str, event: dict[str, Any]) -> None:
        self._deque(session_id).append(("event", event))
        for sink in self._sinks.get(session_id, ()):
            sink.feed(event)

    def add_line(self, session_id: str, kind: str, text: str) -> None:
        self._deque(session_id).append(("line", (kind, text)))
        for sink in self._sinks.get(session_id, ()):
            sink.feed_line(kind, text)

    def add_lifecycle(self, event: Event) -> None:
        session_id = getattr(event, "session_id", None)
        if not session_id:
            return
        if event.topic == "iteration.started":
            self._seen.setdefault(session_id, set()).add(int(getattr(event, "iteration", 0)))
        for kind, text in lifecycle_lines(event):
            self.add_line(session_id, kind, text)

    def has(self, session_id: str) -> bool:
        return bool(self._items.get(session_id))

    def attach(self, session_id: str, sink: Sink, *, replay: bool = True) -> None:
        """Show `session_id` in `sink` (a sink views one session at a time)."""
        self.detach(sink)
        self._sinks.setdefault(session_id, []).append(sink)
        if replay:
            items = self._items.get(session_id, deque())
            limit = int(getattr(sink, "max_lines", 0) or len(items))
            # A view caps its lines anyway: replay only the newest items it can keep.
            for what, payload in list(items)[-limit:]:
                if what == "event":
                    sink.feed(payload)
                else:
                    sink.feed_line(*payload)

    def detach(self, sink: Sink) -> None:
        for sinks in self._sinks.values():
            if sink in sinks:
                sinks.remove(sink)
