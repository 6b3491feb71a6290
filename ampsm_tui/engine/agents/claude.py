"""Claude Code (`claude`, npm `@anthropic-ai/claude-code`) in print mode with stream-json output.

`claude -p PROMPT --output-format stream-json --verbose [--model M] [--permission-mode
bypassPermissions]`, continued with `--resume SESSION_ID`. Its `result` line carries the turn's token
totals and its own dollar figure, which win over anything summed from the messages.

As root, Claude Code refuses `--permission-mode bypassPermissions` ("cannot be used with root/sudo
privileges") unless `IS_SANDBOX=1` says the machine is a throw-away sandbox. Agents often run as root in
containers, so the preflight says so as E002, with the two ways out, before any turn starts.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import AmpsmError, ErrorCode
from .base import AgentAdapter, StreamParser
from .streamjson import StreamJsonParser

ROOT_OPT_IN = "IS_SANDBOX"


def root_refusal(allow_all: bool, env: dict[str, str] | None = None) -> str | None:
    """Why Claude Code would refuse this turn as root, with the fix; None when it will run."""
    env = dict(os.environ) if env is None else env
    if not allow_all or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    if env.get(ROOT_OPT_IN, "").strip().lower() in ("1", "true", "yes"):
        return None
    return (
        "claude: Claude Code refuses --permission-mode bypassPermissions when run as root (root/sudo "
        f"privileges); if this machine is a sandbox or container, set {ROOT_OPT_IN}=1 to allow it, "
        "else run ampsm as a normal user (or set amp.dangerously_allow_all: false, and tools will need approval)"
    )


MAX_ARG_PROMPT = 100_000


class ClaudeAdapter(AgentAdapter):
    name = "claude"
    binary = "claude"
    key_variable = "ANTHROPIC_API_KEY"
    install_hint = "npm install -g @anthropic-ai/claude-code, then `claude` to log in (or set ANTHROPIC_API_KEY)"
    retries_itself = True  # API errors retried with backoff (CLAUDE_CODE_MAX_RETRIES)

    def check(self) -> dict[str, str | None]:
        info = super().check()
        problem = root_refusal(self.allow_all)
        if problem:
            raise AmpsmError(ErrorCode.AGENT, problem)
        return info

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
