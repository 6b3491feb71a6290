"""Session names become branch-name slugs that are safe whatever the user typed.

A name is user input: it may hold `..`, slashes, shell metacharacters, a leading dash that git would
read as an option, control characters or any script. The slug keeps only `[a-z0-9-]`, is bounded in
length, and is checked against git's own ref rules (`valid_branch_name`, the rules of
`git check-ref-format --branch`, in Python: no process per new session).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

MAX_SLUG = 40
_NOT_SAFE = re.compile(r"[^a-z0-9]+")
_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")


def slugify(name: str, max_len: int = MAX_SLUG) -> str:
    """`Fix the Login bug!` -> `fix-the-login-bug`; a name with no ASCII letters or digits gets a
    short stable hash (`s-1a2b3c4d`) so two such names do not share a slug."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SAFE.sub("-", ascii_name.lower()).strip("-")
    if len(slug) > max_len:
        slug = slug[:max_len].rstrip("-")
    if not slug:
        import hashlib

        slug = "s-" + hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return slug


def branch_name(name: str, moment: datetime, suffix: int = 0) -> str:
    """`amp/<slug>/<YYYYMMDD-HHMMSS>`, with `-N` appended when that name is taken (lesson 12)."""
    stamp = moment.strftime("%Y%m%d-%H%M%S")
    return f"amp/{slugify(name)}/{stamp}" + (f"-{suffix}" if suffix > 1 else "")


def is_safe_session_id(session_id: str) -> bool:
    """Session ids become a directory name and part of a ref: a single safe path component only."""
    return bool(_SESSION_ID.match(session_id))


_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def valid_branch_name(name: str) -> bool:
    """git's ref-name rules (git-check-ref-format(1)) for `refs/heads/<name>`."""
    if not name or name == "@" or name.startswith("-") or name.endswith(("/", ".")):
        return False
    if ".." in name or "@{" in name or "//" in name or _REF_FORBIDDEN.search(name):
        return False
    return all(part and not part.startswith(".") and not part.endswith(".lock") for part in name.split("/"))
