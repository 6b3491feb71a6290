"""Headless commands, one module per group. Importing a module registers its commands (cheaply).

`ampsm <word> ...` imports only the module that owns `<word>` (ROUTES), so a command pays for its
own imports and its own argparse tree, not for every other command's. `load_all()` is for what
needs the whole registry: top-level `--help`, docs, completion scripts. A test checks that ROUTES
names exactly the module each command is registered from.
"""

from __future__ import annotations

#: Command modules; each registers its commands with `registry.command` at import time.
MODULES = (
    "maintenance",
    "session",
    "land",
    "batch",
    "telemetry",
    "gitcmds",
    "bench",
    "demo",
    "dbbackup",
    "completion",
    "safekeep",
    "queue",
)

#: The first word of a command line -> the modules that register the commands under it.
ROUTES: dict[str, tuple[str, ...]] = {
    "doctor": ("maintenance",),
    "verify-amp": ("session",),
    "db": ("maintenance", "dbbackup"),
    "config": ("maintenance",),
    "new": ("session",),
    "iterate": ("session",),
    "interactive": ("session",),
    "list": ("session",),
    "status": ("session",),
    "diff": ("session",),
    "squash": ("session",),
    "rebase": ("session",),
    "merge": ("session",),
    "archive": ("session",),
    "cancel": ("session",),
    "abort": ("session",),
    "land": ("land",),
    "batch": ("batch",),
    "metrics": ("telemetry",),
    "usage": ("telemetry",),
    "export": ("telemetry",),
    "telemetry": ("telemetry",),
    "test-git": ("gitcmds",),
    "clean-environment": ("gitcmds",),
    "bench": ("bench",),
    "demo": ("demo",),
    "completion": ("completion",),
    "restore": ("safekeep",),
    "gc": ("safekeep",),
    "queue": ("queue",),
}


def _load(module: str) -> None:
    # `__import__`, not importlib: importing importlib (and its `warnings`) was a millisecond of
    # every lean command
    __import__(f"{__name__}.{module}")


def load_all() -> None:
    for name in MODULES:
        _load(name)


def load_for(word: str | None) -> str | None:
    """Import the modules that own `word`; the whole registry when the word is not a command.
    Returns the word the parser should be limited to (None: all of it)."""
    modules = ROUTES.get(word or "")
    if modules is None:
        load_all()
        return None
    for module in modules:
        _load(module)
    return word
