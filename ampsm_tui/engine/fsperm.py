"""Private directories: what ampsm keeps under its config dir (the DB, raw agent streams, logs,
backups) can hold prompts, code and the output of tools, so only the user may read it."""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """`mkdir -p` where every directory this call creates is 0700, and `path` itself is tightened
    to 0700 when it already exists (a folder an older version created 0755). Directories that
    existed above `path` are the user's and are left alone."""
    missing: list[Path] = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            pass
    try:
        if path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
            os.chmod(path, 0o700)
    except OSError:
        pass
    return path
