"""Claude Code (`claude`, npm `@anthropic-ai/claude-code`) in print mode with stream-json output.

`claude -p PROMPT --output-format stream-json --verbose [--model M] [--permission-mode
bypassPermissions]`, continued with `--resume SESSION_ID`. Its `result` line carries the turn's token
totals and its own dollar figure, which win over anything summed from the messages.
"""

from __future__ import annotations

from pathlib import Path

from .base import AgentAdapter, StreamParser
from .streamjson import StreamJsonParser

MAX_ARG_PROMPT = 100_000


class ClaudeAdapter(AgentAdapter):
    name = "claude"
    binary = "claude"
    key_variable = "ANTHROPIC_API_KEY"
    install_hint = "npm install -g @anthropic-ai/claude-code, then `claude` to log in (or set ANTHROPIC_API_KEY)"

    def build_argv(
        self, prompt: str, *, thread_id: str | None = None, model: str | None = None, cwd: Path | str
    ) -> list[str]:
        argv = [self.binary, "-p"]
        if len(prompt.encode()) <= MAX_ARG_PROMPT:
            argv.append(prompt)
        argv += ["--output-format", "stream-json", "--verbose"]
        if thread_id:
            argv += ["--resume", thread_id]
        if model:
            argv += ["--model", model]
        if self.allow_all:
            argv += ["--permission-mode", "bypassPermissions"]
        return argv

    def stdin_data(self, prompt: str) -> bytes | None:
        return prompt.encode() if len(prompt.encode()) > MAX_ARG_PROMPT else None

    def new_parser(self) -> StreamParser:
        return StreamJsonParser()
