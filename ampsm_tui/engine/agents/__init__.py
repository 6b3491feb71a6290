"""Agent adapters: argument lists, stream parsing, typed events, pricing and the subprocess runner.

Entry points: `get_adapter(name, agent_cmd=None, config=...)`, `run_agent(...)` (process.py),
`adapter.check()` / `check_agent(name)` (preflight.py); the event models live in base.py.

The package imports its parts on first use (PEP 562), so that `agents.registry` — read by the
`--agent` choices of every `ampsm new` — does not pay for pydantic, asyncio and the runner.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from typing import Any

    from .base import AgentAdapter, AgentEvent, StreamParser, replay_file
    from .preflight import check_agent
    from .process import AgentRunResult, raw_log_path, run_agent, run_agent_turn, terminate_group
    from .registry import AGENT_NAMES, get_adapter

_EXPORTS = {
    "AGENT_NAMES": ".registry",
    "get_adapter": ".registry",
    "AgentAdapter": ".base",
    "AgentEvent": ".base",
    "StreamParser": ".base",
    "replay_file": ".base",
    "check_agent": ".preflight",
    "AgentRunResult": ".process",
    "raw_log_path": ".process",
    "run_agent": ".process",
    "run_agent_turn": ".process",
    "terminate_group": ".process",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AGENT_NAMES",
    "AgentAdapter",
    "AgentEvent",
    "AgentRunResult",
    "StreamParser",
    "check_agent",
    "get_adapter",
    "raw_log_path",
    "replay_file",
    "run_agent",
    "run_agent_turn",
    "terminate_group",
]
