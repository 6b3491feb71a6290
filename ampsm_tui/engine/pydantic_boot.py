"""Skip pydantic's plugin discovery when no pydantic plugin is installed.

Why: on its first model pydantic looks for plugins through `importlib.metadata` entry points.
Importing `importlib.metadata` (email, zipfile, csv, ...) and scanning every installed
distribution costs a headless command about as much as importing asyncio, and ampsm installs no
pydantic plugin. When the user's environment has one (an `entry_points.txt` with a `[pydantic]`
group, e.g. logfire), or names plugins in PYDANTIC_DISABLE_PLUGINS, nothing is changed and
pydantic finds and loads it as before.
"""

from __future__ import annotations

import os
import sys
import types

_LOADER = "pydantic.plugin._loader"


def _plugin_installed() -> bool:
    """A distribution on sys.path declaring a `[pydantic]` entry point group (what pydantic's own
    discovery would find), read from the metadata files without importlib.metadata."""
    for entry in sys.path:
        try:
            listing = os.scandir(entry or ".")
        except OSError:  # a zip, a missing folder
            continue
        with listing:
            for d in listing:
                if not d.name.endswith((".dist-info", ".egg-info")):
                    continue
                try:
                    with open(os.path.join(d.path, "entry_points.txt"), encoding="utf-8", errors="replace") as fh:
                        if "[pydantic]" in fh.read():
                            return True
                except OSError:
                    continue
    return False


def skip_plugin_scan() -> bool:
    """Stand in for pydantic's plugin loader (answering "no plugins") unless a plugin could be
    found or the loader is already imported. Call before the first model is built. True when
    the stand-in is in place."""
    if _LOADER in sys.modules:
        return isinstance(sys.modules[_LOADER], _NoPlugins)
    disabled = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    if disabled not in (None, "__all__", "1", "true") or (disabled is None and _plugin_installed()):
        return False  # some plugins are wanted: pydantic's own loader decides
    sys.modules[_LOADER] = _NoPlugins(_LOADER)
    return True


class _NoPlugins(types.ModuleType):
    """`pydantic.plugin._loader` with nothing installed: `get_plugins()` is empty."""

    PYDANTIC_ENTRY_POINT_GROUP = "pydantic"

    @staticmethod
    def get_plugins() -> tuple[()]:
        return ()
