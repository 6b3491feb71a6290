"""Amp (`amp`, npm `@ampcode/cli`), the first-class agent: execute mode with streaming JSON.

A new turn is `amp --execute PROMPT --stream-json [--dangerously-allow-all] [-m MODE]`; a continued
thread is `amp threads continue TID --execute PROMPT --stream-json ...`. Amp chooses its model through
a mode (`low|medium|high|ultra`), so `--model` takes a mode; any other value is an error rather than a
flag Amp would silently ignore (lesson 9). Its `result` line has no usage and no cost: the parser sums
the assistant messages and pricing.py prices them (see the `amp` entry there).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import AmpsmError, ErrorCode
from ..secrets import get_api_key
from .base import AgentAdapter, StreamParser
from .streamjson import StreamJsonParser

AMP_MODES = ("low", "medium", "high", "ultra")

#: Linux caps one argument at 128 KiB; longer prompts go on stdin (`--execute` with no value).
MAX_ARG_PROMPT = 100_000


class AmpAdapter(AgentAdapter):
    name = "amp"
    binary = "amp"
    key_variable = "AMP_API_KEY"
    default_pricing_model = "amp"
    install_hint = "npm install -g @ampcode/cli, then `amp login` (or set AMP_API_KEY)"

    def validate_model(self, model: str | None) -> None:
        if model and model not in AMP_MODES:
            raise AmpsmError(
                ErrorCode.AGENT,
                f"amp cannot use model {model!r}: Amp selects its model by mode; "
                f"use --model {'|'.join(AMP_MODES)} (or another --agent for a specific model)",
            )

    def check(self) -> dict[str, str | None]:
        """Binary and `amp --version`, then a key (env or keyring) or an `amp login` file."""
        info = super().check()
        if Path(self.binary).name != "amp":
            # amp.binary names a stand-in (a wrapper, the demo's scripted agent): it owns its auth, and
            # an auth failure in its stream is still E002.
            info["auth"] = "not checked (amp.binary is not the amp CLI)"
        elif os.environ.get("AMP_API_KEY"):
            info["auth"] = "AMP_API_KEY"
        elif any(p.is_file() for p in amp_login_files()):
            info["auth"] = "amp login"
        elif get_api_key("AMP_API_KEY"):
            info["auth"] = "keyring"
        else:
            raise AmpsmError(
                ErrorCode.AGENT,
                "amp is not logged in: run `amp login`, or set AMP_API_KEY "
                "(or store it with `keyring set ampsm AMP_API_KEY`)",
            )
        return info

    def build_argv(
        self, prompt: str, *, thread_id: str | None = None, model: str | None = None, cwd: Path | str
    ) -> list[str]:
        self.validate_model(model)
        argv = [self.binary]
        if thread_id:
            argv += ["threads", "continue", thread_id]
        argv += ["--execute"] if len(prompt.encode()) > MAX_ARG_PROMPT else ["--execute", prompt]
        argv.append("--stream-json")
        if self.allow_all:
            argv.append("--dangerously-allow-all")
        if model:
            argv += ["-m", model]
        return argv

    def stdin_data(self, prompt: str) -> bytes | None:
        return prompt.encode() if len(prompt.encode()) > MAX_ARG_PROMPT else None

    def new_parser(self) -> StreamParser:
        return StreamJsonParser()

    def pricing_model(self, parser: StreamParser, model: str | None) -> str | None:
        if parser.model:
            return parser.model
        return f"amp:{model}" if model else "amp"

    def recorded_model(self, parser: StreamParser, model: str | None) -> str | None:
        return self.pricing_model(parser, model)


def amp_login_files() -> list[Path]:
    """Where `amp login` keeps its credentials (checked for presence only, never read)."""
    home = Path.home()
    data = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return [data / "amp" / "secrets.json", home / "Library" / "Application Support" / "amp" / "secrets.json"]
