"""A new branch's section of the repository's config file, written the way `git config` writes it.

Why: `create_worktree` marks each session branch with two keys (whose session, which base), and
`git config` sets one key per process: two git start-ups were a tenth of an `ampsm new` (issue 17).
This writes both in one step with git's own protocol: take `config.lock` (O_EXCL, as git does;
a held lock means someone is writing, and the caller falls back to `git config`), read the file
under the lock, write the whole new file to the lock with the original's mode, rename it over
the config. Only the plain case is handled: a branch no line of the config names yet (it was
made a moment ago), names and values of safe characters, a regular file. Anything else returns
False having changed nothing, and the caller runs `git config`. `tests/test_git_configfile.py`
compares the bytes with what git writes on a twin repository.
"""

from __future__ import annotations

import os
import re
import stat

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from pathlib import Path

#: Characters that need no quoting or escaping in a subsection name or a value (no `"`, `\`,
#: `#`, `;`, spaces or newlines).
_PLAIN = re.compile(r"[A-Za-z0-9._/+@-]+")
#: A key of ours: letters, then letters and digits (what git accepts unquoted).
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def add_branch_section(config: Path, branch: str, keys: dict[str, str]) -> bool:
    """Append `[branch "<branch>"]` with `keys` (name -> value, in order) to the config file at
    `config` (the common git dir's). True when written; False, and nothing changed, when git
    must do it."""
    if not keys or not _PLAIN.fullmatch(branch) or not all(_KEY.fullmatch(k) for k in keys):
        return False
    if not all(_PLAIN.fullmatch(v) for v in keys.values()):
        return False
    path = os.fspath(config)
    lock = path + ".lock"
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError:  # held by a git that is writing, or not writable: git reports it properly
        return False
    renamed = False
    try:
        with os.fdopen(fd, "wb") as out:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):  # a symlink (lstat's answer) or anything but a file
                return False
            with open(path, "rb") as fh:
                data = fh.read()
            if branch.encode() in data:  # a section for it already (a leftover): git edits it in place
                return False
            section = f'[branch "{branch}"]\n' + "".join(f"\t{k} = {v}\n" for k, v in keys.items())
            out.write(data + (b"\n" if data and not data.endswith(b"\n") else b"") + section.encode())
            out.flush()
            os.fchmod(out.fileno(), info.st_mode & 0o7777)
        os.replace(lock, path)
        renamed = True
        return True
    except OSError:
        return False
    finally:
        if not renamed:
            try:
                os.unlink(lock)
            except OSError:
                pass
