"""Agent adapters: argument lists, stream parsing, typed events, pricing and the subprocess runner.

Entry points: `get_adapter(name, agent_cmd=None, config=...)`, `run_agent(...)` (process.py),
`adapter.check()` / `check_agent(name)` (preflight.py); the event models live in base.py.
"""

from __future__ import annotations

from .base import AgentAdapter, AgentEvent, StreamParser, replay_file
from .preflight import check_agent
from .process import AgentRunResult, raw_log_path, run_agent, run_agent_turn, terminate_group
from .registry import AGENT_NAMES, get_adapter

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
