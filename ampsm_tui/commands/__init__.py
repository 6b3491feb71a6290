"""Headless commands, one module per group. Importing this registers them all (cheaply)."""

from __future__ import annotations

import importlib

#: Command modules; each registers its commands with `registry.command` at import time.
MODULES = (
    "maintenance",
    "session",
    "batch",
    "telemetry",
    "gitcmds",
    "bench",
    "demo",
    "dbbackup",
    "completion",
    "safekeep",
)


def load_all() -> None:
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")
