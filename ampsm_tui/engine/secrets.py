"""API keys: looked up in the keyring, else the environment; redacted from everything we write.

Redaction runs on log records, the raw agent streams, test logs and anything printed, so a key an
agent echoes never reaches the DB, a file or the terminal.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Iterable
    from functools import cached_property
    from pathlib import Path

    from ahocorasick_rs import BytesAhoCorasick
else:
    # `re`, `bisect` and `pathlib` are imported where a text needs them: the lean `new` scrubs a
    # short name and prompt with substring tests, and their imports (with functools's) were 18 ms
    from .lite import cached_property

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

_KEYLIKE_PARAM = (  # compiled on first use (re's cache): most processes never see a URL
    r"(?i)(?:^|[_\-.])(?:key|apikey|api[_\-]?key|token|secret|sig|signature|password|passwd|pass|pwd|auth"
    r"|access[_\-]?token|client[_\-]?secret|credential|credentials|session|code)$"
)
_USERINFO = r"^([A-Za-z][A-Za-z0-9+.\-]*://)([^/?#@\s]*)@"
_QUERY_PAIR = r"([?&;])([^=&;#]+)=([^&;#]*)"


def _token_shaped(part: str) -> bool:
    """A URL path part that looks like a credential (Slack and Discord webhook tokens, signed
    paths): long, one run of token characters, mixed case, with digits or of 24+ characters. Hex (a
    commit sha), numbers and lower-case slugs (branch names) are not."""
    import re

    if len(part) < 20 or not re.fullmatch(_TOKEN_CHARS, part):
        return False
    if not (any(c.isupper() for c in part) and any(c.islower() for c in part)):
        return False
    return len(part) >= 24 or any(c.isdigit() for c in part)


#: lower-cased literals one of which is in every text the token shapes can match
_TOKEN_HINTS = ("sk-", "amp_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "aiza", "xox", "akia")
#: the keywords of _ASSIGN (lower-cased); `api_key`/`api-key`/`apikey` all end in "key"
_ASSIGN_WORDS = ("key", "token", "secret", "password")
#: every character `\s` matches in a str pattern (tests/test_redaction.py checks it against `re`)
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: what `str.lower()` leaves apart that must compare equal: `(?i)` lets `s` match U+017F (long s),
#: and a final sigma lowers to U+03C2 or U+03C3 by its neighbours (a value's last letter may not be
#: the text's); both sides are folded before the scan (never needed for ASCII text)
_FOLD = str.maketrans({"\u017f": "s", "\u03c2": "\u03c3"})


def _literals(values_low: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    r"""Every literal some family of secrets cannot do without (in lower case), with its family.
    _ASSIGN's literal is a keyword followed by `=`, `:` or a whitespace character, since `\s*[=:]`
    begins with one of those: `"input_tokens": 12` is not one."""
    literals: list[tuple[str, str]] = [("://", "url"), ("bearer", "bearer")]
    literals += [(word + c, "assign") for word in _ASSIGN_WORDS for c in "=:" + WHITESPACE]
    literals += [(hint, "token") for hint in _TOKEN_HINTS]
    literals += [(value, "known") for value in values_low]
    return tuple(literals)


def _prefilter(literals: tuple[tuple[str, str], ...]) -> BytesAhoCorasick:
    """One automaton for all the literals: a chunk of an agent's stream is scanned once, whatever
    the number of families and known values (a substring test per literal was a scan each, as
    costly together as parsing the JSON)."""
    from ahocorasick_rs import BytesAhoCorasick, Implementation

    # over UTF-8 bytes, as a DFA: twice the speed of the str automaton (no offsets to convert)
    return BytesAhoCorasick([_utf8(text) for text, _ in literals], implementation=Implementation.DFA)


#: Texts up to this long are checked with substring tests until the automaton exists: `ampsm new`
#: redacts a name and a prompt, and building the automaton (with its import) was a millisecond.
_SHORT = 256


_TOKEN_CHARS = r"[A-Za-z0-9_\-]+"


def _folded(text: str) -> str:
    """`text` lower-cased and folded (see _FOLD): what the literals are looked for in."""
    low = text.lower()
    return low if low.isascii() else low.translate(_FOLD)


def _lower(text: str) -> bytes:
    """`_folded(text)` as the UTF-8 the automaton scans."""
    return _utf8(_folded(text))


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate (a non-UTF-8 file name) is kept


REDACTED = "[REDACTED]"


def _redact_url(url: str) -> str:
    import re

    m = re.match(_USERINFO, url)
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
            if value and (re.search(_KEYLIKE_PARAM, name) or _token_shaped(value)):
                return f"{m.group(1)}{name}={REDACTED}"
            return m.group(0)

        tail = re.sub(_QUERY_PAIR, pair, "?" + tail)[1:]
    return head + sep + tail + fragment


class Redactor:
    """Every secret shape and the given secret values in compiled patterns: one pass per text.

    Build one per set of values (the engine's environment at start, an agent's environment) and
    reuse it: nothing is looked up per line. A text is first checked, with plain substring tests,
    for what each family of secrets cannot do without (a `://`, a token's literal start, `bearer`,
    a keyword followed by `=` or `:`, a known value); only the families that pass are combined into
    the pattern that scans it (sre has no fast path for a long alternation, and nearly every line
    of an agent's stream holds no secret at all)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = tuple(sorted({v for v in values if v and len(v) >= 6}, key=len, reverse=True))
        self._values_low = tuple(dict.fromkeys(_folded(v) for v in self.values))
        self._literals = _literals(self._values_low)
        self._family_of = tuple(family for _, family in self._literals)
        self._subsets: dict[tuple[str, ...], re.Pattern[str]] = {}

    # The known values' pattern is written when a text first needs a pattern (`re.escape` needs `re`)
    @cached_property
    def _known(self) -> str | None:
        import re

        known = "|".join(re.escape(v) for v in self.values)
        return f"(?P<known>{known})" if known else None

    @cached_property
    def _alternatives(self) -> list[str]:
        return ([self._known] if self._known else []) + [_URL, _BEARER, _ASSIGN, _TOKEN]

    @cached_property
    def _scan(self) -> BytesAhoCorasick:
        return _prefilter(self._literals)

    # The patterns are compiled when a text first needs them: most processes (`ampsm new`, say)
    # redact a few short texts the prefilter clears, and compiling them was a tenth of such a run.
    @cached_property
    def pattern(self) -> re.Pattern[str]:
        import re

        return re.compile("|".join(self._alternatives))

    @cached_property
    def _inner(self) -> re.Pattern[str]:
        """Inside a URL the query is handled pair by pair (`?api_key=..&page=2` keeps `page=2`)."""
        import re

        return re.compile("|".join(a for a in self._alternatives if a not in (_URL, _ASSIGN)))

    def _replace(self, m: re.Match[str]) -> str:
        kind = m.lastgroup
        if kind == "url":
            return _redact_url(self._inner.sub(self._replace, m.group(0)))
        if kind in ("bearer", "assign"):
            return m.group(kind) + REDACTED
        return REDACTED

    def _matches(self, text: str) -> tuple[bytes, list[tuple[int, int, int]]]:
        low = _lower(text)
        return low, self._scan.find_matches_as_indexes(low, overlapping=True)

    def _found(self, text: str) -> set[str]:
        """The families whose literal `text` holds: by the automaton, or, for a short text while
        there is none yet, by substring tests on the same lower-cased text (the same answer)."""
        if len(text) <= _SHORT and "_scan" not in self.__dict__:
            low = _folded(text)
            return {family for literal, family in self._literals if literal in low}
        return {self._family_of[index] for index, _, _ in self._matches(text)[1]}

    def _families(self, text: str) -> tuple[str, ...]:
        found = self._found(text)
        if not found:
            return ()
        if "url" in found:  # a URL: everything, in the one pattern (a key inside it is the URL's)
            return ("all",)
        names = {"known": self._known, "bearer": _BEARER, "assign": _ASSIGN, "token": _TOKEN}
        return tuple(p for name, p in names.items() if name in found and p is not None)

    def needed(self, text: str) -> bool:
        """Whether `text` may hold a secret at all: one scan for a whole chunk of lines, which
        then go out untouched when it says no (the usual case)."""
        return bool(text) and bool(self._found(text))

    def lines_needing(self, text: str) -> list[int]:
        """The indexes of the lines of `text` (split on newlines) that may hold a secret, from one scan
        of the whole text: an agent's chunk of a few hundred lines is checked at once and only the
        lines with a candidate are redacted one by one. `str.lower()` never adds or removes a
        newline, so the lines of the lower-cased text are the lines of `text`."""
        if not text:
            return []
        low, matches = self._matches(text)
        if not matches:
            return []
        import re
        from bisect import bisect_right

        newlines = [m.start() for m in re.finditer(b"\n", low)]  # byte offsets, as the matches' are
        found: set[int] = set()
        for _, start, end in matches:
            # a literal never spans a newline unless a known value holds one: every line it touches
            found.update(range(bisect_right(newlines, start), bisect_right(newlines, max(start, end - 1)) + 1))
        return sorted(found)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        families = self._families(text)
        if not families:
            return text
        if families == ("all",):
            return self.pattern.sub(self._replace, text)
        pattern = self._subsets.get(families)
        if pattern is None:
            import re

            pattern = self._subsets[families] = re.compile("|".join(families))
        return pattern.sub(self._replace, text)


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


def scrubber() -> Callable[[str], str]:
    """`scrub` with this environment's redactor looked up once, for many values written together
    (a batch of tool calls): the lookup compares the key variables each time."""
    red = current_redactor()
    return lambda text: red(clean_text(text)) if text else text


def secrets_dir(db_path: Path) -> Path:
    """Where values that must be used again but never stored in the DB are kept (a webhook URL with
    a token in it): beside the DB, 0700, one 0600 file each, never in backups or exports."""
    from pathlib import Path

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
