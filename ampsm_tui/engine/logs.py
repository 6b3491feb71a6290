"""Logging: one file under the config dir, level from config/AMPSM_LOG_LEVEL, keys redacted."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from .fsperm import private_dir
from .secrets import redact

_configured: Path | None = None


def setup_logging(log_path: Path, level: str = "info", *, stderr: bool = False) -> None:
    """Idempotent per path: commands and the TUI call it once after loading the config."""
    global _configured
    root = logging.getLogger("ampsm_tui")
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    if _configured == log_path:
        return
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    private_dir(log_path.parent)
    handler: logging.Handler = logging.handlers.RotatingFileHandler(
        log_path, maxBytes=5_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    try:
        os.chmod(log_path, 0o600)
    except OSError:
        pass
    if stderr:
        err = logging.StreamHandler()
        err.setLevel(logging.WARNING)
        err.addFilter(RedactingFilter())
        root.addHandler(err)
    root.propagate = False
    _configured = log_path


class RedactingFilter(logging.Filter):
    """Keys out of every log record: its message, arguments and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
