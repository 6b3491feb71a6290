"""Session names become branch-name slugs that are safe whatever the user typed.

A name is user input: it may hold `..`, slashes, shell metacharacters, a leading dash that git would
read as an option, control characters or any script. The slug keeps only `[a-z0-9-]`, is bounded in
length, and is checked against git's own ref rules (`valid_branch_name`, the rules of
`git check-ref-format --branch`, in Python: no process per new session).
"""

from __future__ import annotations

MAX_SLUG = 40
#: Plain character sets rather than regexes: `re` (with `enum` and `functools`) was a tenth of a
#: lean `ampsm new` (issue 17).
_SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ID_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_ID_CHARS = _ID_FIRST | {"_", "-"}


def slugify(name: str, max_len: int = MAX_SLUG) -> str:
    """`Fix the Login bug!` -> `fix-the-login-bug`; a name with no ASCII letters or digits gets a
    short stable hash (`s-1a2b3c4d`) so two such names do not share a slug."""
    if name.isascii():  # NFKD leaves ASCII as it is
        ascii_name = name
    else:
        import unicodedata

        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    parts: list[str] = []
    for c in ascii_name.lower():  # every run of other characters becomes one `-`
        if c in _SLUG_CHARS:
            parts.append(c)
        elif not parts or parts[-1] != "-":
            parts.append("-")
    slug = "".join(parts).strip("-")
    if len(slug) > max_len:
        slug = slug[:max_len].rstrip("-")
    if not slug:
        import hashlib

        slug = "s-" + hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return slug


def branch_name(name: str, stamp: str, suffix: int = 0) -> str:
    """`amp/<slug>/<stamp>` (the stamp is `YYYYMMDD-HHMMSS`), with `-N` appended when that name is
    taken (lesson 12)."""
    return f"amp/{slugify(name)}/{stamp}" + (f"-{suffix}" if suffix > 1 else "")


def is_safe_session_id(session_id: str) -> bool:
    """Session ids become a directory name and part of a ref: a single safe path component only
    (a letter or digit, then up to 79 letters, digits, `_` or `-`)."""
    return (
        0 < len(session_id) <= 80
        and session_id[0] in _ID_FIRST
        and all(c in _ID_CHARS for c in session_id)
    )  # fmt: skip


#: What git forbids anywhere in a ref name: control characters, space, DEL and `~^:?*[\`.
_REF_FORBIDDEN = frozenset([chr(c) for c in range(0x21)] + ["\x7f", "~", "^", ":", "?", "*", "[", "\\"])


def valid_branch_name(name: str) -> bool:
    """git's ref-name rules (git-check-ref-format(1)) for `refs/heads/<name>`."""
    if not name or name == "@" or name.startswith("-") or name.endswith(("/", ".")):
        return False
    if ".." in name or "@{" in name or "//" in name or not _REF_FORBIDDEN.isdisjoint(name):
        return False
    return all(part and not part.startswith(".") and not part.endswith(".lock") for part in name.split("/"))
