"""A session branch's section of the repository's config file, written (and removed) the way
`git config` (and `git branch -D`) does it.

Why: `create_worktree` marks each session branch with two keys (whose session, which base), and
`git config` sets one key per process: two git start-ups were a tenth of an `ampsm new` (issue 17).
This writes both in one step with git's own protocol: take `config.lock` (O_EXCL, as git does;
a held lock means someone is writing, and the caller falls back to `git config`), read the file
under the lock, write the whole new file to the lock with the original's mode, rename it over
the config. Only the plain case is handled: a branch no line of the config names yet (it was
made a moment ago), names and values of safe characters, a regular file. Anything else returns
False having changed nothing, and the caller runs `git config`. `tests/test_git_configfile.py`
compares the bytes with what git writes on a twin repository. Removing the section when the
branch goes is the same protocol (`remove_branch_section`): `git branch -D`'s work done by a ref
update and this, so that it can run beside the worktree's removal.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from collections.abc import Callable

    from .runner import StrPath

_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_ALNUM = _LETTERS | frozenset("0123456789")
#: Characters that need no quoting or escaping in a subsection name or a value (no `"`, `\`,
#: `#`, `;`, spaces or newlines).
_PLAIN = _ALNUM | frozenset("._/+@-")


def _plain(text: str) -> bool:
    return bool(text) and _PLAIN.issuperset(text)


def _key(text: str) -> bool:
    """A key of ours: a letter, then letters and digits (what git accepts unquoted)."""
    return bool(text) and text[0] in _LETTERS and _ALNUM.issuperset(text)


def add_branch_section(config: StrPath, branch: str, keys: dict[str, str]) -> bool:
    """Append `[branch "<branch>"]` with `keys` (name -> value, in order) to the config file at
    `config` (the common git dir's). True when written; False, and nothing changed, when git
    must do it."""
    if not keys or not _plain(branch) or not all(_key(k) for k in keys):
        return False
    if not all(_plain(v) for v in keys.values()):
        return False

    def append(data: bytes) -> bytes | None:
        if branch.encode() in data:  # a section for it already (a leftover): git edits it in place
            return None
        section = f'[branch "{branch}"]\n' + "".join(f"\t{k} = {v}\n" for k, v in keys.items())
        return data + (b"\n" if data and not data.endswith(b"\n") else b"") + section.encode()

    return _rewrite(config, append)


def remove_branch_section(config: StrPath, branch: str) -> bool:
    """Remove `[branch "<branch>"]` and its keys, as `git branch -D` (and `git config
    --remove-section`) does, from the config file at `config`. True when removed; False, and
    nothing changed, when git must do it: the name mentioned anywhere else, a key line that is not
    plain `<tab>key = value`, a comment in the section, no such section."""
    if not _plain(branch):
        return False
    header = f'[branch "{branch}"]\n'.encode()

    def cut(data: bytes) -> bytes | None:
        if data.count(branch.encode()) != 1:
            return None
        lines = data.splitlines(keepends=True)
        if header not in lines:
            return None
        start = end = lines.index(header)
        for line in lines[start + 1 :]:
            if line.startswith(b"["):
                break
            key, sep, value = line.removeprefix(b"\t").removesuffix(b"\n").partition(b" = ")
            if not (line.startswith(b"\t") and line.endswith(b"\n") and sep and _key(key.decode("ascii", "replace"))):
                return None
            if not _plain(value.decode("ascii", "replace")):
                return None
            end += 1
        return b"".join(lines[:start] + lines[end + 1 :])

    return _rewrite(config, cut)


def _rewrite(config: StrPath, change: Callable[[bytes], bytes | None]) -> bool:
    """Replace the config file's bytes with `change(bytes)` under git's lock (`config.lock` taken
    O_EXCL, written whole with the file's mode, renamed over it). False, and nothing changed, when
    `change` says None, the lock is held, or the config is anything but a regular file."""
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
            new = change(data)
            if new is None:
                return False
            out.write(new)
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
