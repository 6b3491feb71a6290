"""Agent adapters: argument lists, stream parsing, typed events, pricing and the subprocess runner.

Entry points: `get_adapter(name, agent_cmd=None, config=...)`, `run_agent_turn(...)` (process.py),
`check_agent(name)`; the event models live in base.py.
"""

from __future__ import annotations

from .base import AgentAdapter, AgentEvent, StreamParser, replay_file
from .process import AgentRunResult, check_agent, raw_log_path, run_agent_turn, terminate_group
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
    "run_agent_turn",
    "terminate_group",
]
