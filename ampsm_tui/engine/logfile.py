"""The log file for the lean CLI paths: made ready (0600, in a private folder) without importing
`logging`, which with its handlers is a fifth of such a command's start-up. Nothing on those paths
logs; should something go wrong, `configure_pending` sets logging up as `setup_logging` would."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from pathlib import Path

_pending: tuple[str, str] | None = None


def prepare(log_path: str | Path, level: str = "info") -> None:
    """What `setup_logging` leaves on disk (the folder 0700, the file 0600), and the settings it
    would use, for later. Raises OSError where `setup_logging` would. The path as a `Path` or its
    text (`LeanConfig.log_path`: the lean paths have no pathlib)."""
    global _pending
    from .fsperm import private_dir

    log_path = os.fspath(log_path)
    private_dir(os.path.dirname(log_path) or ".")
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    os.close(fd)
    try:
        os.chmod(log_path, 0o600)
    except OSError:
        pass
    _pending = (log_path, level)


def configure_pending() -> None:
    """Set logging up for a path `prepare` made ready (an internal error is about to be logged)."""
    global _pending
    if _pending is None:
        return
    from pathlib import Path

    from .logs import setup_logging

    path, level = _pending
    _pending = None
    setup_logging(Path(path), level)
