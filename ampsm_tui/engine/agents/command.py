"""`--agent command --agent-cmd "CMD"`: any program as the agent (codemods, `ruff --fix`, scripts).

The command line is split like a shell would split words (`shlex`) but never run through a shell:
no globbing, pipes or `$VAR` expansion — write `sh -c '...'` explicitly when you want a shell. The
prompt reaches the program on stdin and in a private file named by `AMPSM_PROMPT_FILE` (removed when
the turn ends), and as the environment variable `AMPSM_PROMPT` when it fits (Linux refuses to start a
program with one environment string over 128 KiB), never spliced into the command line. Every line it
prints is a text event.

Cost: a command uses no model, so its turns are recorded as 0 tokens and $0.00 — a known, true zero.
That differs from "unpriced" (None), which means tokens were spent at a price we do not know.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from ..config import Price
from ..errors import AmpsmError, ErrorCode
from .base import AgentAdapter, AgentEvent, StreamParser, TextEvent


class TextLineParser(StreamParser):
    """Plain-text agents: every non-empty line is text; there is no final line to wait for."""

    has_final_result = False

    def parse_line(self, line: str) -> list[AgentEvent]:
        return [TextEvent(text=line)]


#: Linux's MAX_ARG_STRLEN is 128 KiB per `NAME=value` string; stay well below it.
MAX_ENV_PROMPT_BYTES = 100 * 1024


class CommandAdapter(AgentAdapter):
    name = "command"
    #: `run_agent` writes the prompt to a private file and names it in this variable
    prompt_file_env = "AMPSM_PROMPT_FILE"

    def __init__(self, agent_cmd: str | None, *, allow_all: bool = True) -> None:
        super().__init__(allow_all=allow_all)
        if not agent_cmd or not agent_cmd.strip():
            raise AmpsmError(ErrorCode.AGENT, 'the command agent needs --agent-cmd "CMD" (the program to run)')
        try:
            self.base_argv = shlex.split(agent_cmd)
        except ValueError as exc:
            raise AmpsmError(ErrorCode.AGENT, f"cannot parse --agent-cmd: {exc}") from None
        if not self.base_argv:
            raise AmpsmError(ErrorCode.AGENT, 'the command agent needs --agent-cmd "CMD" (the program to run)')
        self.agent_cmd = agent_cmd
        self.binary = self.base_argv[0]

    def check(self) -> dict[str, str | None]:
        """The program exists; it is never run to check it (`CMD --version` could do anything).
        A relative path (`./fix.sh`) is resolved against the worktree when the turn runs."""
        from .preflight import resolve_binary

        if os.sep in self.binary and not os.path.isabs(self.binary):
            return {"agent": self.name, "path": self.binary, "version": None}
        return {"agent": self.name, "path": resolve_binary(self.binary, self), "version": None}

    def validate_model(self, model: str | None) -> None:
        if model:
            raise AmpsmError(ErrorCode.AGENT, "the command agent uses no model: drop --model")

    def build_argv(
        self, prompt: str, *, thread_id: str | None = None, model: str | None = None, cwd: Path | str
    ) -> list[str]:
        self.validate_model(model)
        return list(self.base_argv)

    def stdin_data(self, prompt: str) -> bytes | None:
        return prompt.encode()

    def extra_env(self, prompt: str) -> dict[str, str]:
        if len(prompt.encode("utf-8", "surrogateescape")) > MAX_ENV_PROMPT_BYTES:
            return {}  # on stdin and in $AMPSM_PROMPT_FILE only
        return {"AMPSM_PROMPT": prompt}

    def new_parser(self) -> StreamParser:
        return TextLineParser()

    def cost(self, parser: StreamParser, *, model: str | None, prices: dict[str, Price] | None) -> float | None:
        return 0.0

    def recorded_model(self, parser: StreamParser, model: str | None) -> str | None:
        return None
