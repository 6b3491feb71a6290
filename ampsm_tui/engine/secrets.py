"""API keys: looked up in the keyring, else the environment; redacted from everything we write.

Redaction runs on log records, the raw agent streams, test logs and anything printed, so a key an
agent echoes never reaches the DB, a file or the terminal.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

#: Environment variables whose values are secrets wherever they appear.
KEY_VARIABLES = (
    "AMP_API_KEY",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "HF_TOKEN",
)

#: Token shapes, each a literal start so the combined pattern scans fast. `(?<![\w-])`: a word of
#: its own ("task-fix-the-login-page" is a session name, not a key).
_TOKEN_SHAPES = (
    r"sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}",
    r"(?:sgamp|amp)_[A-Za-z0-9_\-]{16,}",
    r"gh[pousr]_[A-Za-z0-9]{20,}",
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"AIza[0-9A-Za-z_\-]{30,}",
    r"xox[abprs]-[A-Za-z0-9\-]{10,}",
    r"AKIA[0-9A-Z]{16}(?![A-Za-z0-9])",
)
_TOKEN = r"(?<![A-Za-z0-9_])(?:" + "|".join(_TOKEN_SHAPES) + ")"
#: `Bearer <token>` and `api_key=...`, `token: ...`, `password=...`: the value after the keyword.
_BEARER = r"(?P<bearer>(?i:bearer)\s+)[A-Za-z0-9._\-]{16,}"
_ASSIGN = r"(?P<assign>(?<![A-Za-z0-9])(?i:api[_-]?key|token|secret|password)\s*[=:]\s*[\"']?)[^\s\"',;]{8,}"
#: A URL: its userinfo, key-like query values and token-shaped path parts are redacted.
_URL = r"(?P<url>(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{1,15}://[^\s\"'<>`]+)"

_KEYLIKE_PARAM = re.compile(
    r"(?i)(?:^|[_\-.])(?:key|apikey|api[_\-]?key|token|secret|sig|signature|password|passwd|pass|pwd|auth"
    r"|access[_\-]?token|client[_\-]?secret|credential|credentials|session|code)$"
)
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)([^/?#@\s]*)@")
_QUERY_PAIR = re.compile(r"([?&;])([^=&;#]+)=([^&;#]*)")


def _token_shaped(part: str) -> bool:
    """A URL path part that looks like a credential (Slack and Discord webhook tokens, signed
    paths): long, one run of token characters, mixed case, with digits or of 24+ characters. Hex (a
    commit sha), numbers and lower-case slugs (branch names) are not."""
    if len(part) < 20 or not _TOKEN_CHARS.fullmatch(part):
        return False
    if not (any(c.isupper() for c in part) and any(c.islower() for c in part)):
        return False
    return len(part) >= 24 or any(c.isdigit() for c in part)


#: lower-cased: one of these is in every text a pattern above can match
_HINTS: tuple[str, ...] = ("://", "sk-", "amp_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "aiza")
_HINTS += ("xox", "akia", "bearer", "key", "token", "secret", "password")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-]+")

REDACTED = "[REDACTED]"


def _redact_url(url: str) -> str:
    m = _USERINFO.match(url)
    if m and m.group(2):
        user, _, password = m.group(2).partition(":")
        if password:
            url = f"{m.group(1)}{user}:{REDACTED}@" + url[m.end() :]
        elif len(user) >= 16 or _token_shaped(user):  # https://<token>@github.com/...
            url = f"{m.group(1)}{REDACTED}@" + url[m.end() :]
    head, sep, tail = url.partition("?")
    fragment = ""
    if "#" in (tail if sep else head):
        if sep:
            tail, _, fragment = tail.partition("#")
        else:
            head, _, fragment = head.partition("#")
        fragment = "#" + fragment
    scheme_end = head.find("://") + 3
    host_end = head.find("/", scheme_end)
    if host_end != -1:
        parts = head[host_end:].split("/")
        head = head[:host_end] + "/".join(REDACTED if _token_shaped(p) else p for p in parts)
    if sep:

        def pair(m: re.Match[str]) -> str:
            name, value = m.group(2), m.group(3)
            if "://" in value:  # a URL in a parameter (a redirect target): its own secrets
                return f"{m.group(1)}{name}={_redact_url(value)}"
            if value and (_KEYLIKE_PARAM.search(name) or _token_shaped(value)):
                return f"{m.group(1)}{name}={REDACTED}"
            return m.group(0)

        tail = _QUERY_PAIR.sub(pair, "?" + tail)[1:]
    return head + sep + tail + fragment


class Redactor:
    """Every secret shape and the given secret values in one compiled pattern: one pass per text.

    Build one per set of values (the engine's environment at start, an agent's environment) and
    reuse it: nothing is looked up per line."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = tuple(sorted({v for v in values if v and len(v) >= 6}, key=len, reverse=True))
        known = "|".join(re.escape(v) for v in self.values)
        alternatives = ([f"(?P<known>{known})"] if known else []) + [_URL, _BEARER, _ASSIGN, _TOKEN]
        self.pattern = re.compile("|".join(alternatives))
        # Substrings one of which every match contains: most lines have none, and `in` on the
        # lower-cased text is far cheaper than a regex scan (sre has no fast path for alternations).
        self._hints = _HINTS + tuple(dict.fromkeys(v.lower() for v in self.values))
        # inside a URL the query is handled pair by pair (`?api_key=..&page=2` keeps `page=2`)
        self._inner = re.compile("|".join(a for a in alternatives if a not in (_URL, _ASSIGN)))

    def _replace(self, m: re.Match[str]) -> str:
        kind = m.lastgroup
        if kind == "url":
            return _redact_url(self._inner.sub(self._replace, m.group(0)))
        if kind in ("bearer", "assign"):
            return m.group(kind) + REDACTED
        return REDACTED

    def __call__(self, text: str) -> str:
        if not text:
            return text
        low = text.lower()
        for hint in self._hints:
            if hint in low:
                return self.pattern.sub(self._replace, text)
        return text


def _environment_values() -> tuple[str | None, ...]:
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict) and _KEY_BYTES:  # POSIX: raw bytes, no decoding per call
        return tuple(data.get(k) for k in _KEY_BYTES)
    return tuple(os.environ.get(name) for name in KEY_VARIABLES)


_KEY_BYTES = tuple(os.fsencode(name) for name in KEY_VARIABLES) if os.name == "posix" else ()
_cached: tuple[tuple[str | None, ...], Redactor] | None = None


def current_redactor() -> Redactor:
    """The redactor for this process's environment, rebuilt only when a key variable changed."""
    global _cached
    seen = _environment_values()
    if _cached is None or _cached[0] != seen:
        values = [os.environ.get(name) or "" for name in KEY_VARIABLES]
        _cached = (seen, Redactor(values))
    return _cached[1]


def redact(text: str) -> str:
    if not text:
        return text
    return current_redactor()(text)


def clean_text(text: str) -> str:
    """Text that SQLite, files and terminals accept: bytes that were not UTF-8 (argv and file names
    reach Python as lone surrogates) become U+FFFD instead of an encode error deep in a write."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape" if _escapable(text) else "replace").decode("utf-8", "replace")


def _escapable(text: str) -> bool:
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


def scrub(text: str) -> str:
    """What every free-text value stored or printed goes through: valid UTF-8, keys redacted."""
    return redact(clean_text(text))


def secrets_dir(db_path: Path) -> Path:
    """Where values that must be used again but never stored in the DB are kept (a webhook URL with
    a token in it): beside the DB, 0700, one 0600 file each, never in backups or exports."""
    return Path(db_path).parent / "secrets"


def keep_secret(folder: Path, name: str, value: str) -> None:
    from .fsperm import private_dir

    private_dir(folder)
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value)
    os.chmod(path, 0o600)


def recall_secret(folder: Path, name: str) -> str | None:
    try:
        return (folder / name).read_text(encoding="utf-8") or None
    except OSError:
        return None


def stored_url(url: str, folder: Path, name: str) -> str:
    """What to store for `url`: itself when it holds no secret, else its redacted form, the whole
    URL kept privately under `name` (read back with `usable_url`)."""
    shown = redact(url)
    if shown != url:
        keep_secret(folder, name, url)
    return shown


def usable_url(url: str, folder: Path, name: str) -> str | None:
    """The URL to call for a stored one: the private copy when the stored one was redacted."""
    if REDACTED not in url:
        return url
    return recall_secret(folder, name)


def get_api_key(name: str) -> str | None:
    """The keyring first (service `ampsm`), then the environment. Never logged."""
    try:
        import keyring

        value = keyring.get_password("ampsm", name)
        if value:
            return value
    except Exception:  # no backend (headless Linux, CI): fall back to the environment
        pass
    return os.environ.get(name) or None


class RedactingFilter(logging.Filter):
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
