"""Usage and rate limits: recognise an agent's "you hit your limit, it resets at T" and read T.

Why: a batch item that fails at a usage limit whose reset time is known is not a failure of the
work; failing it (or retrying it at once) wastes the item. The scheduler asks `parse_limit` about a
failed item's error text; a hit pauses that agent's queue until the reset, and the item runs again
by itself afterwards. Messages seen in the wild (and in ../shared/agent-samples):

- Claude Code: `Claude AI usage limit reached|1767225600` (epoch), `5-hour limit reached ∙ resets 3pm`,
  `API Error: Request rejected (429) · rate_limit_error`
- Codex: `You've hit your usage limit ... try again in 2 hours 5 minutes` / `try again at 3:04 PM`
- Gemini: `Quota exceeded ... Please retry in 39.5s`, `"retryDelay": "39s"`, `RESOURCE_EXHAUSTED`
- Amp and HTTP proxies: `429 Too Many Requests`, `Retry-After: 30`, `resets at 2026-12-02T00:40:00Z`

A limit without a readable reset is paused for `DEFAULT_PAUSE_S` (a guess, said so in `known`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DEFAULT_PAUSE_S = 60.0
#: never pause longer than this on one message (a misread date must not park a batch for a year)
MAX_PAUSE_S = 24 * 3600.0

_LIMIT = re.compile(
    r"usage[ _-]?limit|rate[ _-]?limit|quota|hit your limit|limit reached|too many requests|"
    r"resource[ _]exhausted|\b429\b",
    re.IGNORECASE,
)
_ISO = re.compile(r"\b(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)")
_EPOCH = re.compile(r"(?:\||reset\w*\D{0,12})(\d{10})\b", re.IGNORECASE)
_AFTER = re.compile(r"retry[- _]?after\D{0,4}(\d+(?:\.\d+)?)", re.IGNORECASE)
_DELAY = re.compile(r"retry ?delay\W{0,5}(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
_IN = re.compile(
    r"(?:retry|try again|resets?)\s+in\s+((?:\d+(?:\.\d+)?\s*(?:h(?:ours?|rs?)?|m(?:in(?:ute)?s?)?|s(?:ec(?:ond)?s?)?)"
    r"[\s,and]*)+)",
    re.IGNORECASE,
)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s)", re.IGNORECASE)
_CLOCK = re.compile(r"(?:resets?|try again)(?:\s+at)?\s+(\d{1,2})(?::(\d\d))?\s*([ap]\.?m\.?)?", re.IGNORECASE)


@dataclass(frozen=True)
class LimitHit:
    """A usage/rate limit: until when the agent is paused, and whether that time was read or guessed."""

    reset_at: datetime
    known: bool
    message: str

    def until_text(self) -> str:
        return self.reset_at.astimezone(UTC).strftime("%H:%M:%S UTC")


def _seconds(text: str) -> float:
    total = 0.0
    for number, unit in _PART.findall(text):
        total += float(number) * {"h": 3600.0, "m": 60.0, "s": 1.0}[unit.lower()]
    return total


def _reset_of(text: str, now: datetime) -> datetime | None:
    iso = _ISO.search(text)
    if iso:
        moment = datetime.fromisoformat(iso.group(1).replace("Z", "+00:00").replace(" ", "T"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    epoch = _EPOCH.search(text)
    if epoch:
        return datetime.fromtimestamp(int(epoch.group(1)), UTC)
    for pattern in (_AFTER, _DELAY):
        found = pattern.search(text)
        if found:
            return now + timedelta(seconds=float(found.group(1)))
    within = _IN.search(text)
    if within and _seconds(within.group(1)) > 0:
        return now + timedelta(seconds=_seconds(within.group(1)))
    clock = _CLOCK.search(text)
    if clock and (clock.group(2) or clock.group(3)):
        hour, minute = int(clock.group(1)), int(clock.group(2) or 0)
        meridiem = (clock.group(3) or "").lower().replace(".", "")
        if meridiem == "pm" and hour < 12:
            hour += 12
        elif meridiem == "am" and hour == 12:
            hour = 0
        if hour < 24 and minute < 60:
            local = now.astimezone()
            moment = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if moment <= local:
                moment += timedelta(days=1)
            return moment.astimezone(UTC)
    return None


def parse_limit(text: str | None, now: datetime | None = None) -> LimitHit | None:
    """The limit an agent's error text reports, or None when the text is not about a limit."""
    if not text or not _LIMIT.search(text):
        return None
    now = now or datetime.now(UTC)
    reset = _reset_of(text, now)
    known = reset is not None
    if reset is None or reset <= now:
        reset = now + timedelta(seconds=DEFAULT_PAUSE_S if not known else 1.0)
    reset = min(reset, now + timedelta(seconds=MAX_PAUSE_S))
    return LimitHit(reset_at=reset, known=known, message=text.strip().splitlines()[-1][:300])


#: a batch item waiting for its agent's reset: status `pending`, its note starting with this
PAUSED = "paused:"


def item_state(status: str, error: str | None) -> str:
    """An item's status as shown (CLI table, JSON and the TUI's batch monitor): `paused` for a
    pending item waiting for a usage limit's reset, else its stored status."""
    return "paused" if status == "pending" and (error or "").startswith(PAUSED) else status


__all__ = ["DEFAULT_PAUSE_S", "PAUSED", "LimitHit", "item_state", "parse_limit"]
