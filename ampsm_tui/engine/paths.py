"""Where ampsm keeps its files, answered without the config models (no pydantic): shell
completion asks on every Tab."""

from __future__ import annotations

import os
from pathlib import Path

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from .lite import NamedTuple


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


#: Environment overrides whose values the config models must check (a bad one is a config error).
_CHECKED_ENV = (
    "AMPSM_SQLITE_CACHE_SIZE",
    "AMPSM_SQLITE_JOURNAL_MODE",
    "AMPSM_BATCH_CONCURRENCY",
    "AMPSM_STREAM_BUFFER_SIZE",
)
_LOG_LEVELS = ("debug", "info", "warning", "error")


class LeanConfig(NamedTuple):
    """The few settings the lean command paths read, with the config models' defaults (a test
    checks them against `Config()`)."""

    db_path: Path
    busy_timeout_s: float
    log_path: Path
    log_level: str
    commit_prefix: str = "amp:"
    squash_manual: str = "keep"
    lock_timeout: float = 60.0
    merge_mode: str = "ff"
    remove_worktree_after_merge: bool = True
    default_base_branch: str = "main"
    worktree_dir: str = ".worktrees"
    include_file: str = ".worktreeinclude"
    port_range: str = "41000-41999"
    ports_per_session: int = 4


def lean_config() -> LeanConfig | None:
    """The settings when they are known without the config models: no config file, and no
    environment override that the models would have to validate. None: only `load_config()` can
    answer (and report a bad value as a config error)."""
    env = os.environ
    cdir = config_dir()
    if (cdir / "config.yaml").exists() or any(env.get(name) for name in _CHECKED_ENV):
        return None
    level = (env.get("AMPSM_LOG_LEVEL") or "info").lower()
    if level not in _LOG_LEVELS:
        return None
    if env.get("AMPSM_AMP_BIN") and not env["AMPSM_AMP_BIN"].strip():
        return None
    db = env.get("AMPSM_DB_PATH") or str(cdir / "sessions.db")
    return LeanConfig(Path(os.path.expanduser(db)), 10.0, cdir / "logs" / "ampsm.log", level)
