"""API keys: looked up in the keyring, else the environment; redacted from everything we write.

Redaction runs on log records, the raw agent streams, test logs and anything printed, so a key an
agent echoes never reaches the DB, a file or the terminal.
"""

from __future__ import annotations

import logging
import os
import re

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

_PATTERNS = [
    # `\b`: "task-fix-the-login-page" is a session name, not a key.
    re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\b(?:sgamp|amp)_[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{16,}"),
    re.compile(r"(?i)\b((?:api[_-]?key|token|secret|password)\s*[=:]\s*[\"']?)[^\s\"',;]{8,}"),
]

REDACTED = "[REDACTED]"


def _known_values() -> list[str]:
    values = []
    for name in KEY_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 6:
            values.append(value)
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    if not text:
        return text
    for value in _known_values():
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


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
