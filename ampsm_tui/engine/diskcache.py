"""Small JSON caches under `<config dir>/cache/`: answers that are costly to get again (an agent
binary's `--version`, genai-prices' rates) keyed by what invalidates them. Best effort both ways:
a file that cannot be read is empty, one that cannot be written costs the next command the work."""

from __future__ import annotations

import json
import os
from pathlib import Path


def cache_file(name: str) -> Path:
    from .paths import config_dir

    return config_dir() / "cache" / name


def read(name: str) -> dict[str, object]:
    try:
        data = json.loads(cache_file(name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember(name: str, key: str, value: object, *, keep: int) -> None:
    """Store `key` -> `value` (JSON) in the cache `name`, keeping its newest `keep` entries; written
    to a temporary file and renamed (0600 in a 0700 folder), so a reader never sees half a file."""
    from .fsperm import private_dir

    file = cache_file(name)
    try:
        private_dir(file.parent)
        data = read(name)
        data.pop(key, None)  # re-inserted last: the newest entry
        data[key] = value
        if len(data) > keep:
            data = dict(list(data.items())[-keep:])
        tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, file)
    except OSError:
        pass
