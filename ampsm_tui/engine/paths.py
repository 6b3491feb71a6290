"""Where ampsm keeps its files, answered without the config models (no pydantic): shell
completion asks on every Tab."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    return Path(os.path.expanduser(os.environ.get("AMPSM_CONFIG_DIR") or "~/.ampsm"))


def quick_db_path() -> Path:
    """The database path without building the config models: for shell completion, which runs on
    every Tab. Same answer as `load_config().db_path` (env, then the file's database.path, then the
    config folder); a config file that cannot be read leaves it to the full load's error."""
    if os.environ.get("AMPSM_DB_PATH"):
        return Path(os.path.expanduser(os.environ["AMPSM_DB_PATH"]))
    cdir = config_dir()
    file = cdir / "config.yaml"
    if file.exists():
        import yaml

        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        path = (data.get("database") or {}).get("path") if isinstance(data, dict) else None
        if isinstance(path, str) and path:
            return Path(os.path.expanduser(path))
    return cdir / "sessions.db"
