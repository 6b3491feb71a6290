"""Private directories: what ampsm keeps under its config dir (the DB, raw agent streams, logs,
backups) can hold prompts, code and the output of tools, so only the user may read it."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from typing import TypeVar

    P = TypeVar("P", bound="str | os.PathLike[str]")


def private_dir(path: P) -> P:
    """`mkdir -p` where every directory this call creates is 0700, and `path` itself is tightened
    to 0700 when it already exists (a folder an older version created 0755). Directories that
    existed above `path` are the user's and are left alone. A `Path` or its text (the lean command
    paths have no pathlib): `path` is returned as given."""
    from .paths import path_exists

    missing: list[str] = []
    p = path if isinstance(path, str) else os.fspath(path)
    while not path_exists(p) and p != _parent(p):
        missing.append(p)
        p = _parent(p)
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
    try:
        if os.stat(path).st_mode & 0o077 and os.stat(path).st_uid == os.getuid():
            os.chmod(path, 0o700)
    except OSError:
        pass
    return path


def _parent(text: str) -> str:
    """`str(Path(text).parent)` for the text of a Path (see paths.as_path_text)."""
    return os.path.dirname(text) or "."
