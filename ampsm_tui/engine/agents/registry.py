"""Agent names to adapters. Each adapter module is imported only when its agent is used."""

from __future__ import annotations

from ..errors import AmpsmError, ErrorCode

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from ..config import Config
    from .base import AgentAdapter

#: name -> (module, class)
ADAPTERS: dict[str, tuple[str, str]] = {
    "amp": ("amp", "AmpAdapter"),
    "claude": ("claude", "ClaudeAdapter"),
    "codex": ("codex", "CodexAdapter"),
    "gemini": ("gemini", "GeminiAdapter"),
    "aider": ("aider", "AiderAdapter"),
    "command": ("command", "CommandAdapter"),
}

AGENT_NAMES = tuple(ADAPTERS)


def get_adapter(name: str, agent_cmd: str | None = None, *, config: Config | None = None) -> AgentAdapter:
    """The adapter for `name`; E002 for an agent ampsm does not know."""
    key = (name or "").strip().lower()
    if key not in ADAPTERS:
        raise AmpsmError(
            ErrorCode.AGENT,
            f"unknown agent {name!r}: use one of {', '.join(AGENT_NAMES)} (or --agent command --agent-cmd CMD)",
        )
    module_name, class_name = ADAPTERS[key]
    import importlib

    module = importlib.import_module(f"{__package__}.{module_name}")
    cls = getattr(module, class_name)
    allow_all = config.amp.dangerously_allow_all if config is not None else True
    adapter: AgentAdapter
    if key == "command":
        adapter = cls(agent_cmd, allow_all=allow_all)
    else:
        if agent_cmd:
            raise AmpsmError(ErrorCode.AGENT, f"--agent-cmd only applies to --agent command, not {key}")
        adapter = cls(allow_all=allow_all)
        if key == "amp" and config is not None:
            adapter.binary = config.amp.binary  # amp.binary / AMPSM_AMP_BIN (the demo's scripted agent)
    return adapter
