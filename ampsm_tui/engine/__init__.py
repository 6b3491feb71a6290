"""The ampsm engine: plain asyncio, no UI. Public API (imported lazily to keep start-up fast):

from ampsm_tui.engine import Engine, MetricsEventBus, load_config
engine = await Engine.open()
engine.bus.subscribe("iteration.finished", handler)
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from typing import Any

_EXPORTS = {
    "Engine": ".engine",
    "MetricsEventBus": ".events",
    "Event": ".events",
    "SessionCreated": ".events",
    "SessionStatusChanged": ".events",
    "IterationStarted": ".events",
    "AgentEventPublished": ".events",
    "GitCommitted": ".events",
    "GitConflict": ".events",
    "TestFinished": ".events",
    "LandStepFinished": ".events",
    "LandFinished": ".events",
    "LandPlan": ".review",
    "LandResult": ".review",
    "IterationFinished": ".events",
    "BatchProgress": ".events",
    "BatchFinished": ".events",
    "AmpsmError": ".errors",
    "ErrorCode": ".errors",
    "Config": ".config",
    "load_config": ".config",
    "Store": ".store",
    "Session": ".models",
    "Iteration": ".models",
    "SessionStatus": ".models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __name__), name)
