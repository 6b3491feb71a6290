"""Aider (`aider`, PyPI `aider-chat`): plain text, one turn per `--message`.

`aider --message PROMPT --yes-always --no-auto-commits --no-stream [--model M]`; ampsm makes the
commit itself, hence `--no-auto-commits`. Every line is text; its report lines
("Tokens: 2.3k sent, 1.1k cache write, 4.0k cache hit, 145 received. Cost: $0.0042 message, ...")
become usage with Aider's own dollar figure, and "Model: ..." / "Main model: ..." name the model.
A continued turn passes `--restore-chat-history` (Aider has no thread id: it keeps its chat in a file,
which ampsm puts in the worktree's `.ampsm/aider/`, never committed).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..config import Price
from ..git.repo import BOOKKEEPING_DIR
from .base import AgentAdapter, AgentEvent, StreamParser, TextEvent, UsageEvent

_COST = re.compile(r"Cost:\s*\$([\d.]+)\s*message", re.IGNORECASE)
_COUNT = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*([kKmM]?)\s+(sent|received|cache write|cache hit)", re.IGNORECASE)
_MODEL = re.compile(r"^(?:Main model|Model):\s*(\S+)", re.IGNORECASE)
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000}


def _count(number: str, suffix: str) -> int:
    try:
        return round(float(number.replace(",", "")) * _SCALE[suffix.lower()])
    except ValueError:
        return 0


class AiderParser(StreamParser):
    has_final_result = False

    def __init__(self) -> None:
        super().__init__()
        self.cost_sum: float | None = None

    def parse_line(self, line: str) -> list[AgentEvent]:
        events: list[AgentEvent] = [TextEvent(text=line)]
        stripped = line.strip()
        if m := _MODEL.match(stripped):
            self.model = m.group(1)
        if stripped.lower().startswith("tokens:") and _COUNT.search(stripped):
            counts = {"sent": 0, "received": 0, "cache write": 0, "cache hit": 0}
            for number, suffix, what in _COUNT.findall(stripped):
                counts[what.lower()] += _count(number, suffix)
            found = _COST.search(stripped)
            cost = float(found.group(1)) if found else None
            if cost is not None:
                self.cost_sum = (self.cost_sum or 0.0) + cost
            # Aider's "sent" includes the cached prompt tokens: keep only the fresh part as input
            fresh = max(0, counts["sent"] - counts["cache hit"] - counts["cache write"])
            events.append(
                UsageEvent(
                    input_tokens=fresh,
                    output_tokens=counts["received"],
                    cache_creation_tokens=counts["cache write"],
                    cache_read_tokens=counts["cache hit"],
                    cost_usd=cost,
                    model=self.model,
                )
            )
        return events


class AiderAdapter(AgentAdapter):
    name = "aider"
    binary = "aider"
    install_hint = "python -m pip install aider-chat (and set the key of the model's provider)"
    retries_itself = True  # litellm errors are retried with backoff inside Aider

    def build_argv(
        self, prompt: str, *, thread_id: str | None = None, model: str | None = None, cwd: Path | str
    ) -> list[str]:
        # Aider's chat and input histories would land in the worktree and be committed with the turn:
        # they go under `.ampsm/` there, which ampsm never commits and which survives between turns.
        own = Path(cwd) / BOOKKEEPING_DIR / "aider"
        own.mkdir(parents=True, exist_ok=True)  # Aider does not create it, and then keeps no history
        argv = [self.binary, "--message", prompt, "--yes-always", "--no-auto-commits", "--no-stream"]
        argv += [
            "--chat-history-file",
            str(own / "chat.history.md"),
            "--input-history-file",
            str(own / "input.history"),
        ]
        if model:
            argv += ["--model", model]
        # Aider reports no thread id, so a session never has one: an earlier turn's chat file is the thread
        if thread_id or (own / "chat.history.md").exists():
            argv.append("--restore-chat-history")
        return argv

    def new_parser(self) -> StreamParser:
        return AiderParser()

    def cost(self, parser: StreamParser, *, model: str | None, prices: dict[str, Price] | None) -> float | None:
        if isinstance(parser, AiderParser) and parser.cost_sum is not None:
            return round(parser.cost_sum, 8)
        return super().cost(parser, model=model, prices=prices)
