"""One vocabulary for tokens, cost, durations, ages and plurals, for both faces (TUI and headless).

Every screen and every command formats through here, so one session never shows three token totals
or costs at three precisions. The rules:

- tokens: "tokens" alone means input + output; the cache is always labelled on its own
  (`in 1.2k · out 340 · cache 5.1k`), never silently added to a total.
- cost: dollars with 4 decimals below $1 (agent turns cost cents) and 2 above; an unknown price is
  "unpriced", never $0 (lesson 22); a sum with some unpriced parts says so.
- durations and ages: the two largest units (`1m 05s`, `2h 03m`), ages one unit (`5m`, `3d`).

Import-light (no Textual, no Rich): the headless commands import it too.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from datetime import datetime

UNPRICED = "unpriced"
NOTHING = "–"


def tokens(count: int | None) -> str:
    """A token count, short: 950, 12.3k, 1.2M."""
    n = int(count or 0)
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(n)


def token_total(input_tokens: int | None, output_tokens: int | None) -> int:
    """What "tokens" means everywhere: input + output (the cache is shown on its own)."""
    return int(input_tokens or 0) + int(output_tokens or 0)


def token_split(input_tokens: int | None, output_tokens: int | None, cache_tokens: int | None = 0) -> str:
    """`in 1.2k · out 340 · cache 5.1k` (the cache part only when there is some)."""
    parts = [f"in {tokens(input_tokens)}", f"out {tokens(output_tokens)}"]
    if cache_tokens:
        parts.append(f"cache {tokens(cache_tokens)}")
    return " · ".join(parts)


def dollars(value: float) -> str:
    return f"${value:.4f}" if abs(value) < 1 else f"${value:,.2f}"


def cost(value: float | None, *, unpriced: int = 0, short: bool = False) -> str:
    """A cost. `value` None with `unpriced` > 0: "unpriced"; None and nothing unpriced: "–" (nothing was
    spent). A priced sum with unpriced parts: `$0.0143 (+2 unpriced)`, or `$0.0143+?` when `short`."""
    if value is None:
        return UNPRICED if unpriced else NOTHING
    text = dollars(value)
    if not unpriced:
        return text
    if short:
        return text + "+?"
    return f"{text} (+{unpriced} {UNPRICED})"


def price(value: float | None) -> str:
    """What an agent run cost: dollars, or "unpriced" when its price is unknown (never $0)."""
    return UNPRICED if value is None else dollars(value)


def iteration_cost(cost_usd: float | None, spent_tokens: int | None) -> str:
    """One iteration: unpriced when tokens were spent at an unknown price, – when nothing was spent."""
    return cost(cost_usd, unpriced=1 if cost_usd is None and spent_tokens else 0)


def duration(seconds: float | None) -> str:
    """An elapsed time: 4s, 1m 05s, 2h 03m, 3d 04h; "–" when unknown."""
    if seconds is None:
        return NOTHING
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def age(seconds: float | None) -> str:
    """How long ago, one unit: 5s, 3m, 2h, 4d; "" when unknown."""
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def seconds_between(start_iso: str | None, now: datetime) -> float | None:
    """Seconds from an ISO timestamp to `now` (None when the timestamp is missing or unreadable)."""
    if not start_iso:
        return None
    from .engine.clock import parse_iso

    try:
        return (now - parse_iso(start_iso)).total_seconds()
    except ValueError:
        return None


def size(n: int) -> str:
    """Disk sizes (`512 B`, `3.4 MB`): what a clean-up reclaimed, what an archive holds."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 file`, `2 files`, `0 files` (`many` for irregular words)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
