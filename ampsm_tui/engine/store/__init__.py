"""The SQLite store: the one place with SQL. `Store` combines one repository per area.

The package imports its parts on first use (PEP 562), so that `store.ids` — read on every Tab of
shell completion with plain sqlite3 — does not pay for aiosqlite, pydantic and every repository.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from typing import Any

    from .core import StoreBase, db_error
    from .migrations import LATEST, MIGRATIONS
    from .sessions import SessionNotFound
    from .store import Store

_EXPORTS = {
    "Store": ".store",
    "StoreBase": ".core",
    "db_error": ".core",
    "LATEST": ".migrations",
    "MIGRATIONS": ".migrations",
    "SessionNotFound": ".sessions",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = ["LATEST", "MIGRATIONS", "SessionNotFound", "Store", "StoreBase", "db_error"]
