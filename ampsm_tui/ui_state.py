"""What the TUI remembers between runs (last repository of the new-session form, the theme picked):
a small private JSON file in the config dir, never in the DB (it is the user's UI, not session data).

Best effort by design: a missing, unreadable or half-written file is an empty state, and a failed
write is logged, never an error on screen.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE_NAME = "ui-state.json"


class UiState:
    def __init__(self, config_dir: Path) -> None:
        self.path = Path(config_dir) / FILE_NAME

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> Any:
        return self.load().get(key)

    def set(self, key: str, value: Any) -> None:
        data = self.load()
        if data.get(key) == value:
            return
        data[key] = value
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{FILE_NAME}.{os.getpid()}")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("could not save %s: %s", self.path, exc)


def own_checkout() -> Path:
    """ampsm's own source checkout (under `make run` the current directory): never a default repo."""
    return Path(__file__).resolve().parent.parent


def is_git_dir(path: Path) -> bool:
    return (path / ".git").exists()


def default_repo(state: UiState | None, cwd: Path | None = None) -> str:
    """The new-session form's repository: the last one used, else the current directory when it is
    a repository other than ampsm's own checkout, else nothing (the user types it)."""
    if state is not None:
        last = state.get("last_repo")
        if isinstance(last, str) and last and is_git_dir(Path(last)):
            return last
    here = (cwd or Path.cwd()).resolve()
    if is_git_dir(here) and here != own_checkout():
        return str(here)
    return ""
