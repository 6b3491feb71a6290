"""The live output pane: agent text, tool calls as one-liners that expand, thinking folded, tests.

Built like Textual's `Log` (plain strings, only visible lines rendered, an LRU of strips) rather
than `RichLog` (which renders every write up front). Events are queued by `feed()` without any
refresh and folded into lines by a timer ~15 times a second, so an agent printing tens of
thousands of lines costs one refresh per tick. Lines kept in memory are capped; the full output
stays on disk and in the DB. The view follows the tail until the user scrolls up, and follows
again once they scroll back to the end (or press `G`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .. import actions

MAX_LINE_CHARS = 1000  # longer lines are cut before they are stored (very long lines hung toolong)
DETAIL_LINES = 40  # lines of a tool call's input/result kept for the expanded view


@dataclass
class Entry:
    kind: str  # text | thinking | tool | error | marker | pass | fail | raw | hint (until real output)
    lines: list[str]
    detail: list[str] = field(default_factory=list)
    tool_id: str | None = None
    ok: bool | None = None

    def rendered(self, expanded: bool) -> list[tuple[str, str]]:
        if self.kind == "thinking":
            if not expanded:
                return [("thinking", f"… thinking ({len(self.lines)} lines, e to expand)")]
            return [("thinking", line) for line in self.lines]
        if self.kind == "tool":
            mark = {True: " ✓", False: " ✗", None: ""}[self.ok]
            head = [("tool", self.lines[0] + mark)]
            if expanded:
                head.extend(("detail", "    " + d) for d in self.detail)
            return head
        return [(self.kind, line) for line in self.lines]


_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]")


def _clip(text: str) -> str:
    """Strip escape sequences and control bytes (they would corrupt the screen), then cap the length."""
    text = _CONTROL.sub("", text)
    return text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS] + "…"


def _text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content blocks
        return "\n".join(_text_of(v.get("text", v) if isinstance(v, dict) else v) for v in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _args_summary(args: Any, width: int = 80) -> str:
    if isinstance(args, dict):
        for key in ("command", "cmd", "path", "file_path", "pattern", "query", "url"):
            if key in args:
                return _clip(str(args[key]).replace("\n", " "))[:width]
        return _clip(json.dumps(args, ensure_ascii=False, default=str))[:width]
    return _text_of(args).replace("\n", " ")[:width]


class OutputLog(ScrollView, can_focus=True):
    """A capped, batched, tail-following view of one session's output."""

    BINDINGS: ClassVar[list[BindingType]] = actions.bindings("output")

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "output-log--text",
        "output-log--thinking",
        "output-log--tool",
        "output-log--detail",
        "output-log--error",
        "output-log--marker",
        "output-log--pass",
        "output-log--fail",
        "output-log--raw",
    }

    DEFAULT_CSS = """
    OutputLog { background: $surface; overflow-x: hidden; }
    OutputLog > .output-log--text { color: $foreground; }
    OutputLog > .output-log--thinking { color: $foreground-muted; text-style: italic; }
    OutputLog > .output-log--tool { color: $accent; }
    OutputLog > .output-log--detail { color: $foreground-muted; }
    OutputLog > .output-log--error { color: $error; text-style: bold; }
    OutputLog > .output-log--marker { color: $primary; text-style: bold; }
    OutputLog > .output-log--pass { color: $success; }
    OutputLog > .output-log--fail { color: $error; }
    OutputLog > .output-log--raw { color: $foreground-muted; }
    """

    def __init__(self, *, max_lines: int = 10_000, flush_interval: float = 1 / 15, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        self.flush_interval = flush_interval
        self.expanded = False
        self._entries: list[Entry] = []
        self._lines: list[tuple[str, str]] = []
        self._pending: list[tuple[str, Any]] = []
        self._tools: dict[str, Entry] = {}
        self._cache: LRUCache[tuple[int, int], Strip] = LRUCache(1024)
        self._styles: dict[str, Style] = {}
        self.total_lines = 0  # every line ever added (the cap drops old ones from memory)

    def on_mount(self) -> None:
        self.set_interval(self.flush_interval, self.flush, name="output-flush")

    # -- feeding (cheap: no refresh) -------------------------------------------------------

    def feed(self, event: dict[str, Any]) -> None:
        """Queue one agent event dict (kind text|thinking|tool_call|tool_result|error|raw|...)."""
        self._pending.append(("event", event))

    def feed_line(self, kind: str, text: str) -> None:
        """Queue a line of our own (iteration headers, test results, commits)."""
        self._pending.append(("line", (kind, text)))

    def clear(self) -> None:
        self._entries.clear()
        self._lines.clear()
        self._pending.clear()
        self._tools.clear()
        self._cache.clear()
        self.total_lines = 0
        self.virtual_size = Size(self.size.width, 0)
        self.refresh()

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def plain_lines(self) -> list[str]:
        return [text for _, text in self._lines]

    # -- folding events into lines ----------------------------------------------------------

    def _add(self, entry: Entry) -> None:
        if entry.kind != "hint" and self._entries and all(e.kind == "hint" for e in self._entries):
            # a hint ("No iterations yet: i runs the agent") gives way to the first real line
            self._entries.clear()
            self._lines.clear()
            self._tools.clear()
        self._entries.append(entry)
        self._lines.extend(entry.rendered(self.expanded))

    def _apply(self, item: tuple[str, Any]) -> None:
        what, payload = item
        if what == "line":
            kind, text = payload
            self._add(Entry(kind, [_clip(line) for line in str(text).splitlines() or [""]]))
            return
        event: dict[str, Any] = payload
        kind = str(event.get("kind", "raw"))
        if kind in ("text", "thinking", "raw"):
            text = _text_of(event.get("text", event.get("content", event.get("line", ""))))
            lines = [_clip(line) for line in text.splitlines()]
            if lines:
                self._add(Entry(kind, lines))
        elif kind == "tool_call":
            name = str(event.get("name") or event.get("tool") or "tool")
            args = event.get("input", event.get("args", event.get("arguments")))
            summary = str(event.get("input_summary") or "") or _args_summary(args)
            detail_source = args if args is not None else summary
            detail = [_clip(line) for line in json.dumps(detail_source, indent=1, default=str).splitlines()]
            entry = Entry(
                "tool", [_clip(f"⚙ {name}  {summary.replace(chr(10), ' ')[:100]}")], detail=detail[:DETAIL_LINES]
            )
            tool_id = event.get("id") or event.get("tool_use_id")
            if tool_id:
                entry.tool_id = str(tool_id)
                self._tools[entry.tool_id] = entry
            self._add(entry)
        elif kind == "tool_result":
            call = self._tools.pop(str(event.get("id") or event.get("tool_use_id") or ""), None)
            output = _text_of(event.get("output_summary", event.get("content", event.get("output", ""))))
            ok = bool(event.get("ok", not (event.get("is_error") or event.get("error"))))
            if call is not None:
                call.ok = ok
                call.detail.extend("→ " + _clip(r) for r in output.splitlines()[:DETAIL_LINES])
                self._rebuild_needed = True
        elif kind == "error":
            message = _text_of(event.get("message", event.get("error", event.get("text", "error"))))
            self._add(Entry("error", [_clip(f"error: {line}") for line in message.splitlines() or ["error"]]))
        elif kind == "result" and (event.get("is_error") or event.get("ok") is False):
            reason = _text_of(event.get("error") or event.get("text") or event.get("subtype") or "")
            self._add(Entry("error", [_clip(f"agent failed: {reason}")]))
        # usage and thread events are metrics, shown elsewhere

    _rebuild_needed = False

    def flush(self) -> None:
        """Fold queued events into lines; one refresh per call however many events arrived."""
        if not self._pending and not self._rebuild_needed:
            return
        follow = self.is_vertical_scroll_end or self.max_scroll_y == 0
        before = len(self._lines)
        pending, self._pending = self._pending, []
        for item in pending:
            self._apply(item)
        added = len(self._lines) - before
        if self._rebuild_needed:
            self._rebuild_needed = False
            self._rebuild()
        else:
            self.total_lines += max(0, added)
        self._trim()
        self._cache.clear()
        self.virtual_size = Size(self.size.width, len(self._lines))
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.refresh()

    def _trim(self) -> None:
        excess = len(self._lines) - self.max_lines
        if excess > 0:
            del self._lines[:excess]
        extra = len(self._entries) - self.max_lines
        if extra > 0:
            del self._entries[:extra]

    def _rebuild(self) -> None:
        lines: list[tuple[str, str]] = []
        for entry in self._entries:
            lines.extend(entry.rendered(self.expanded))
        self._lines = lines[-self.max_lines :]

    # -- actions ----------------------------------------------------------------------------

    def action_toggle_details(self) -> None:
        self.expanded = not self.expanded
        self._rebuild_needed = True
        self.flush()

    def action_follow(self) -> None:
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    # -- rendering (Line API) ---------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._cache.clear()

    def _style(self, kind: str) -> Style:
        style = self._styles.get(kind)
        if style is None:
            try:
                style = self.get_component_rich_style(f"output-log--{'detail' if kind == 'hint' else kind}")
            except KeyError:
                style = self.get_component_rich_style("output-log--text")
            self._styles[kind] = style
        return style

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        base = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, base)
        key = (index, width)
        strip = self._cache.get(key)
        if strip is None:
            kind, text = self._lines[index]
            strip = Strip([Segment(text.expandtabs(4), base + self._style(kind))]).crop_extend(0, width, base)
            self._cache[key] = strip
        return strip


def feed_items(output: OutputLog, items: list[tuple[str, Any]]) -> None:
    """Replayed output (`live_tail.past_output`): agent events and ready-made lines, in order."""
    for what, value in items:
        if what == "event":
            output.feed(value)
        else:
            output.feed_line(*value)
