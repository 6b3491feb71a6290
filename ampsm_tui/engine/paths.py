"""Where ampsm keeps its files, answered without the config models (no pydantic): shell
completion asks on every Tab.

The lean command paths get them as `str` (`lean_config`, `config_dir_str`): `pathlib` was a tenth
of such a command's start-up. Each is the text of the `Path` the full path uses (`as_path_text`).
"""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import NamedTuple
else:
    from .lite import NamedTuple


def as_path_text(text: str) -> str:
    """`str(PurePosixPath(text))` without pathlib: repeated slashes and `.` parts dropped (two
    leading slashes kept, as POSIX allows), no trailing slash, "." for nothing; `..` is kept."""
    if text.startswith("//") and not text.startswith("///"):
        root = "//"
    else:
        root = "/" if text.startswith("/") else ""
    return root + "/".join(part for part in text.split("/") if part and part != ".") or "."


def join_path_text(base: str, *names: str) -> str:
    """`str(Path(base).joinpath(*names))` for a `base` given by `as_path_text` and plain names."""
    for name in names:
        base = name if base == "." else base + name if base.endswith("/") else f"{base}/{name}"
    return base


def path_exists(text: str) -> bool:
    """`Path(text).exists()`: unlike `os.path.exists`, an error other than a missing file (a folder
    that may not be searched) is raised."""
    try:
        os.stat(text)
    except OSError as exc:
        if exc.errno not in _MISSING:
            raise
        return False
    except ValueError:  # a NUL in the path
        return False
    return True


#: The errors `Path.exists` reads as "no such file" (pathlib's _IGNORED_ERRNOS)
_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def config_dir_str() -> str:
    """`str(config_dir())`."""
    return as_path_text(os.path.expanduser(os.environ.get("AMPSM_CONFIG_DIR") or "~/.ampsm"))


def config_dir() -> Path:
    from pathlib import Path

    return Path(config_dir_str())


def quick_db_path() -> Path:
    """The database path without building the config models: for shell completion, which runs on
    every Tab. Same answer as `load_config().db_path` (env, then the file's database.path, then the
    config folder); a config file that cannot be read leaves it to the full load's error."""
    from pathlib import Path

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
    checks them against `Config()`). The paths are the text of the full path's (`as_path_text`)."""

    db_path: str
    busy_timeout_s: float
    log_path: str
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
    cdir = config_dir_str()
    if path_exists(join_path_text(cdir, "config.yaml")) or any(env.get(name) for name in _CHECKED_ENV):
        return None
    level = (env.get("AMPSM_LOG_LEVEL") or "info").lower()
    if level not in _LOG_LEVELS:
        return None
    if env.get("AMPSM_AMP_BIN") and not env["AMPSM_AMP_BIN"].strip():
        return None
    db = env.get("AMPSM_DB_PATH") or join_path_text(cdir, "sessions.db")
    return LeanConfig(as_path_text(os.path.expanduser(db)), 10.0, join_path_text(cdir, "logs", "ampsm.log"), level)
