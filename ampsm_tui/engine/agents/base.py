"""The agent adapter contract and the typed events every agent's stream is turned into.

Nothing outside `agents/` knows an agent's format: an adapter builds the argument list of one turn
and hands out a stateful parser that turns the stream's lines into these events. The parser also
keeps the turn's bookkeeping (thread id, model, usage, final result), derived from the very events it
emitted, so a replay of the raw JSONL file gives exactly the same totals as the live run.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import from_json

from ..config import Price
from .pricing import normalize_model, price_usage


class _AgentEvent(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class TextEvent(_AgentEvent):
    kind: Literal["text"] = "text"
    text: str


class ThinkingEvent(_AgentEvent):
    kind: Literal["thinking"] = "thinking"
    text: str


class ToolCallEvent(_AgentEvent):
    """A tool call started (the agent asked for it)."""

    kind: Literal["tool_call"] = "tool_call"
    id: str | None = None
    name: str
    input_summary: str = ""


class ToolResultEvent(_AgentEvent):
    """A tool call finished; `duration_ms` is measured between the two lines' arrival."""

    kind: Literal["tool_result"] = "tool_result"
    id: str | None = None
    ok: bool = True
    duration_ms: int | None = None
    output_summary: str = ""


class UsageEvent(_AgentEvent):
    """Tokens of one message (`scope="message"`, added up) or the agent's own totals for the turn
    (`scope="total"`, which replace the sum: Claude's `result` line is authoritative).

    `input_tokens` never includes cached tokens: agents that count cached input inside their input
    figure (Codex, Gemini) are normalised so that the four counters add up to the total."""

    kind: Literal["usage"] = "usage"
    scope: Literal["message", "total"] = "message"
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float | None = None  # only what the agent itself reported
    model: str | None = None


class ThreadEvent(_AgentEvent):
    kind: Literal["thread"] = "thread"
    id: str

    @property
    def thread_id(self) -> str:
        return self.id


class ErrorEvent(_AgentEvent):
    """`transient` errors (429, 5xx, overload) are worth a retry; `auth` errors are E002.
    A non-`fatal` error is a warning the agent carried on after (Codex's error items)."""

    kind: Literal["error"] = "error"
    message: str
    transient: bool = False
    auth: bool = False
    status: int | None = None
    fatal: bool = True


class ResultEvent(_AgentEvent):
    kind: Literal["result"] = "result"
    ok: bool
    text: str = ""
    duration_ms: int | None = None
    num_turns: int | None = None
    subtype: str | None = None


class RawEvent(_AgentEvent):
    """A line that was not valid JSON, or JSON of a type we do not know: kept, counted, shown."""

    kind: Literal["raw"] = "raw"
    text: str


AgentEvent = Annotated[
    TextEvent
    | ThinkingEvent
    | ToolCallEvent
    | ToolResultEvent
    | UsageEvent
    | ThreadEvent
    | ErrorEvent
    | ResultEvent
    | RawEvent,
    Field(discriminator="kind"),
]


@dataclass(slots=True)
class Usage:
    """Running token totals: plain integers (one `add` per message of a long stream; a pydantic
    model's validated attribute writes cost several times more)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_creation_tokens + self.cache_read_tokens

    def add(self, event: UsageEvent) -> None:
        self.input_tokens += event.input_tokens
        self.output_tokens += event.output_tokens
        self.cache_creation_tokens += event.cache_creation_tokens
        self.cache_read_tokens += event.cache_read_tokens

    @classmethod
    def of(cls, event: UsageEvent) -> Usage:
        return cls(
            input_tokens=event.input_tokens,
            output_tokens=event.output_tokens,
            cache_creation_tokens=event.cache_creation_tokens,
            cache_read_tokens=event.cache_read_tokens,
        )


# --- error classification -------------------------------------------------------------------------

_STATUS = re.compile(r"(?<![\d.])([45]\d\d)(?![\d.])")
_AUTH = re.compile(
    r"unauthori[sz]ed|unauthenticated|authenticat|invalid[ _-]?api[ _-]?key|not logged in|"
    r"permission[ _]denied|forbidden|credit balance|out of credits",
    re.IGNORECASE,
)
_TRANSIENT = re.compile(
    r"rate[ _-]?limit|overloaded|high demand|temporar|try again|timed? ?out|timeout|"
    r"ECONNRESET|ETIMEDOUT|ECONNREFUSED|EAI_AGAIN|socket hang up|network|unavailable|internal server",
    re.IGNORECASE,
)


def error_status(message: str) -> int | None:
    """The first HTTP-looking 4xx/5xx status in an error message (`API Error: 401`, `(429)`)."""
    m = _STATUS.search(message)
    return int(m.group(1)) if m else None


_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def strip_ansi(text: str) -> str:
    """Terminal colour and cursor codes out: stored errors are read in the DB, logs and JSON."""
    return _ANSI.sub("", text)


def classify_error(message: str, status: int | None = None, *, fatal: bool = True) -> ErrorEvent:
    """401/403 or an auth phrase -> auth (E002); 408/429/5xx or an overload phrase -> transient."""
    message = strip_ansi(message)
    status = status if status is not None else error_status(message)
    auth = status in (401, 403) or (status is None and bool(_AUTH.search(message)))
    transient = not auth and (
        status in (408, 409, 429) or (status is not None and 500 <= status < 600) or bool(_TRANSIENT.search(message))
    )
    return ErrorEvent(message=message.strip()[:2000], transient=transient, auth=auth, status=status, fatal=fatal)


# --- small helpers shared by the parsers --------------------------------------------------------------


def summarize_input(value: Any, limit: int = 200) -> str:
    """One line a human recognises a tool call by: its command or path, else compact JSON."""
    if isinstance(value, dict):
        for key in ("command", "cmd", "file_path", "path", "filePath", "pattern", "query", "url", "prompt"):
            inner = value.get(key)
            if isinstance(inner, str) and inner:
                return _one_line(inner, limit)
            if isinstance(inner, list) and inner and all(isinstance(x, str) for x in inner):
                return _one_line(" ".join(inner), limit)
    if isinstance(value, str):
        return _one_line(value, limit)
    try:
        return _one_line(json.dumps(value, ensure_ascii=False, separators=(",", ":")), limit)
    except (TypeError, ValueError):
        return _one_line(str(value), limit)


def summarize_output(value: Any, limit: int = 200) -> str:
    if isinstance(value, list):  # Claude content blocks
        parts = [b.get("text", "") for b in value if isinstance(b, dict) and isinstance(b.get("text"), str)]
        value = "\n".join(parts) if parts else value
    return summarize_input(value, limit)


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return 0


# --- the parser -----------------------------------------------------------------------------------------


def loads_line(line: str) -> Any:
    """`json.loads(line)`, parsed by pydantic-core's JSON parser (jiter, in Rust, already here with
    pydantic) when it can: twice the speed of the json module on an agent's line, where decoding
    was the largest single cost of a stream. Whatever jiter refuses (bad JSON, an escaped lone
    surrogate, nesting past its limit) goes through `json.loads`, so the errors are json's; what
    both accept they decode to the same values (tests/test_stream_quiet.py compares them)."""
    try:
        return from_json(line)
    except (ValueError, TypeError):  # TypeError: a str with a lone surrogate has no UTF-8
        return json.loads(line)


class StreamParser:
    """Turns lines into events and keeps the turn's bookkeeping from the events it emits.

    Subclasses implement `parse_object` (JSON agents) or override `parse_line` (text agents).
    Never raises on bad input: anything it cannot read becomes a `RawEvent`.
    """

    #: the stream has a final line (`result`); ending without it means the turn was interrupted
    has_final_result = True
    #: kinds of event nobody would read (no subscriber shows the text, no budget watches the usage):
    #: a parser that honours it keeps their bookkeeping, and its mirrors', without building them.
    #: Set by the caller between lines (see `run_agent(quiet=...)`); replays always get everything.
    quiet: frozenset[str] = frozenset()
    #: parsers that keep the same bookkeeping of the quiet events (the runner's tally of a turn)
    mirrors: tuple[StreamParser, ...] = ()

    def __init__(self) -> None:
        self.thread_id: str | None = None
        self.model: str | None = None
        self._summed = Usage()
        self._total: Usage | None = None
        self.reported_cost: float | None = None
        self.result: ResultEvent | None = None
        self.errors: list[ErrorEvent] = []
        self.last_text: str | None = None
        self.events = 0
        self.raw_lines = 0
        self.lines = 0

    # public API --------------------------------------------------------------------------------------
    def feed_line(self, line: str) -> list[AgentEvent]:
        line = line.rstrip("\r\n")
        if not line or line.isspace():
            return []
        self.lines += 1
        try:
            events = self.parse_line(line)
        except Exception as exc:  # a parser bug must not lose the line or the turn
            events = [RawEvent(text=f"{line} (unparsed: {type(exc).__name__})")]
        return self._track(events)

    def finish(self) -> list[AgentEvent]:
        """End of stream: flush anything buffered (e.g. Gemini's text deltas)."""
        try:
            events = self.flush()
        except Exception:
            events = []
        return self._track(events)

    @property
    def usage(self) -> Usage:
        """The agent's own totals when it reported them, else the sum of its messages."""
        return self._total if self._total is not None else self._summed

    @property
    def summary(self) -> str | None:
        """First line of the final result, else of the last assistant text."""
        for text in (self.result.text if self.result else None, self.last_text):
            if text and text.strip():
                return text.strip().splitlines()[0][:200]
        return None

    @property
    def fatal_error(self) -> ErrorEvent | None:
        fatal = [e for e in self.errors if e.fatal]
        return fatal[-1] if fatal else None

    # for subclasses ----------------------------------------------------------------------------------
    def parse_line(self, line: str) -> list[AgentEvent]:
        try:
            obj = loads_line(line)
        except ValueError:
            return [RawEvent(text=line)]
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            return [RawEvent(text=line)]
        events = self.parse_object(obj)
        return events if events is not None else [RawEvent(text=line)]

    def parse_object(self, obj: dict[str, Any]) -> list[AgentEvent] | None:
        """Events of one JSON line; None for an unknown type (kept as raw)."""
        return None

    def flush(self) -> list[AgentEvent]:
        return []

    def observe(self, event: AgentEvent) -> None:
        """Keep the bookkeeping of an event parsed elsewhere: a caller that sees a turn's events
        (the runner) can still total a turn that was cancelled before its result arrived."""
        self._track([event])

    # bookkeeping -------------------------------------------------------------------------------------
    def quiet_text(self, text: str) -> None:
        """What `_track` does for a text event, without the event."""
        self.events += 1
        if text and not text.isspace():
            self.last_text = text
        for parser in self.mirrors:
            parser.quiet_text(text)

    def quiet_usage(self, input_tokens: int, output_tokens: int, cache_creation: int, cache_read: int,
                    model: str | None) -> None:  # fmt: skip
        """What `_track` does for a message's usage event, without the event."""
        self.events += 1
        if model:
            self.model = model
        summed = self._summed
        summed.input_tokens += input_tokens
        summed.output_tokens += output_tokens
        summed.cache_creation_tokens += cache_creation
        summed.cache_read_tokens += cache_read
        for parser in self.mirrors:
            parser.quiet_usage(input_tokens, output_tokens, cache_creation, cache_read, model)

    def quiet_event(self) -> None:
        """An event with no bookkeeping (thinking), counted only."""
        self.events += 1
        for parser in self.mirrors:
            parser.quiet_event()

    def _track(self, events: list[AgentEvent]) -> list[AgentEvent]:
        # dispatch on the `kind` tag (one string compare per branch; this runs for every event of
        # every line, twice when the runner observes too)
        for event in events:
            self.events += 1
            if event.kind == "text":
                if event.text.strip():
                    self.last_text = event.text
            elif event.kind == "usage":
                if event.model:
                    self.model = event.model
                if event.scope == "total":
                    self._total = Usage.of(event)
                    if event.cost_usd is not None:
                        self.reported_cost = event.cost_usd
                else:
                    self._summed.add(event)
            elif event.kind == "raw":
                self.raw_lines += 1
            elif event.kind == "thread":
                self.thread_id = event.id
            elif event.kind == "error":
                self.errors.append(event)
            elif event.kind == "result":
                self.result = event
        return events


# --- the adapter ------------------------------------------------------------------------------------------


class AgentAdapter(ABC):
    """One agent CLI: how to run a turn and how to read what it prints."""

    name: str = "agent"
    binary: str = ""
    #: environment variable holding the agent's API key (looked up in the keyring when unset)
    key_variable: str | None = None
    #: Amp reports no model in its stream: the price table's entry used for it (see pricing.py)
    default_pricing_model: str | None = None
    #: how to get the CLI, shown with E002 when it is missing
    install_hint: str = ""
    #: the CLI retries 429/5xx itself (with backoff): ampsm must not retry on top of it, or one
    #: persistent 429 keeps a turn busy for (ampsm's attempts) x (the agent's) backoffs
    retries_itself: bool = False

    def __init__(self, *, allow_all: bool = True) -> None:
        self.allow_all = allow_all

    @abstractmethod
    def build_argv(
        self, prompt: str, *, thread_id: str | None = None, model: str | None = None, cwd: Path | str
    ) -> list[str]:
        """The exact argument list of one turn (a new thread, or `thread_id` continued)."""

    def check(self) -> dict[str, str | None]:
        """Preflight without running a turn (lesson 8): binary, `--version`, and a key or login
        where the agent needs one. E002 with the fix otherwise. See preflight.py."""
        from .preflight import check_adapter

        return check_adapter(self)

    def stdin_data(self, prompt: str) -> bytes | None:
        """Bytes written to the agent's stdin (then closed); None gives it /dev/null."""
        return None

    def extra_env(self, prompt: str) -> dict[str, str]:
        return {}

    def resume_from(self, previous_streams: list[Path], thread_id: str | None) -> None:  # noqa: B027
        """Told, before a continued turn, the raw streams of the session's earlier turns (oldest
        first): an agent whose counters run over the whole thread (Codex) takes its baseline there."""

    @abstractmethod
    def new_parser(self) -> StreamParser: ...

    def validate_model(self, model: str | None) -> None:  # noqa: B027 - most CLIs take any model name
        """Raise AmpsmError(E002) for a model the agent cannot honour (never a silent no-op)."""

    def pricing_model(self, parser: StreamParser, model: str | None) -> str | None:
        return normalize_model(parser.model or model or self.default_pricing_model)

    def cost(self, parser: StreamParser, *, model: str | None, prices: dict[str, Price] | None) -> float | None:
        """The agent's own figure when it gave one, else tokens × the price table (None = unpriced)."""
        if parser.reported_cost is not None:
            return parser.reported_cost
        usage = parser.usage
        if usage.total == 0:
            return 0.0 if parser.result is not None else None
        return price_usage(self.pricing_model(parser, model), usage, prices)

    def recorded_model(self, parser: StreamParser, model: str | None) -> str | None:
        """The model stored on the iteration: what the stream said, else what we asked for, in one
        spelling (`claude-opus-4-8[1m]` and `claude-opus-4-8` are one model for usage by model)."""
        return normalize_model(parser.model or model)


def replay_lines(adapter: AgentAdapter, lines: list[str]) -> tuple[list[AgentEvent], StreamParser]:
    """Parse a stored raw stream again (the per-iteration JSONL file) to the same events."""
    parser = adapter.new_parser()
    events: list[AgentEvent] = []
    for line in lines:
        events.extend(parser.feed_line(line))
    events.extend(parser.finish())
    return events, parser


def replay_file(adapter: AgentAdapter, path: Path) -> tuple[list[AgentEvent], StreamParser]:
    text = path.read_bytes().decode("utf-8", "replace")
    return replay_lines(adapter, text.split("\n"))
