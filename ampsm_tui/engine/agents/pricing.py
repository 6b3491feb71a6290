"""Tokens to dollars for turns whose agent reported no cost (Amp, Codex, Gemini).

Prices come from `genai-prices` (maintained by Pydantic, it ships a snapshot of the vendors' price
lists, so it works offline and is updated with the package) rather than a hand-kept table that falls
behind the agents' default models. The config's `pricing` section still wins (same keys: input, output,
cache_read, cache_write, $/M tokens), for a private model or a negotiated rate. A model neither knows
gives None, shown as "unpriced" — never $0 (lesson 22).

Model names are normalised first: agents report the same model in several spellings between turns
(`claude-opus-4-8[1m]` with the context-window tag, `openai/gpt-5` with a provider prefix).

Amp's stream names no model (its mode picks one server-side), so Amp turns are priced as `amp`, or
`amp:<mode>`: both fall back to Claude Sonnet 4.5's rates, Amp's default model family. Put `amp` (or
`amp:ultra`) under `pricing` in the config to change it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

from .. import diskcache
from ..config import Price

if TYPE_CHECKING:
    from .base import Usage

log = logging.getLogger(__name__)

#: what `amp` and `amp:<mode>` are priced as when the config says nothing
AMP_PRICED_AS = "claude-sonnet-4-5"
#: genai-prices' rates by its installed release and model (see `diskcache`)
PRICES_CACHE = "prices.json"

_TAG = re.compile(r"\[[^\]]*\]$")


def normalize_model(model: str | None) -> str | None:
    """One spelling per model: no `[1m]`-style tag, no `provider/` prefix, lower case, trimmed."""
    if not model:
        return None
    name = _TAG.sub("", model.strip()).strip()
    if "/" in name:
        name = name.rsplit("/", 1)[1]
    return name.lower() or None


def _override(name: str, overrides: dict[str, Price] | None) -> Price | None:
    """The config's entry: exact name, else the longest key that is a prefix at a separator."""
    if not overrides:
        return None
    table = {k.strip().lower(): v for k, v in overrides.items()}
    if name in table:
        return table[name]
    best: tuple[int, Price] | None = None
    for key, price in table.items():
        if (
            name.startswith(key)
            and name[len(key) : len(key) + 1] in ("-", ":", "@", ".")
            and (best is None or len(key) > best[0])
        ):
            best = (len(key), price)
    return best[1] if best else None


def _aliased(name: str) -> str:
    return AMP_PRICED_AS if name == "amp" or name.startswith("amp:") else name


@lru_cache(maxsize=256)
def _registry_price(name: str) -> Price | None:
    """Per-million rates of `name` at its base tier, from genai-prices; None when it is unknown.

    Kept on disk by the installed genai-prices (the path and mtime of its package): importing it
    loads its whole price snapshot, a third of a second that every priced `iterate` paid."""
    release = _genai_prices_release()
    key = f"{release}|{name}" if release else None
    if key is not None:
        cached = diskcache.read(PRICES_CACHE).get(key, False)
        if cached is None:
            return None
        if isinstance(cached, list) and len(cached) == 4:
            with contextlib.suppress(ValueError):
                return Price(input=cached[0], output=cached[1], cache_read=cached[2], cache_write=cached[3])
    price = _price_from_genai_prices(name)
    if key is not None:
        rates = None if price is None else [price.input, price.output, price.cache_read, price.cache_write]
        diskcache.remember(PRICES_CACHE, key, rates, keep=256)  # models of older releases go
    return price


def _price_from_genai_prices(name: str) -> Price | None:
    try:
        from genai_prices import Usage as GUsage
        from genai_prices import calc_price
    except ImportError:  # pragma: no cover - a declared dependency
        log.warning("genai-prices is not installed: every model is unpriced")
        return None

    def rate(**counts: int) -> float:
        total = counts.get("input_tokens", 0)
        usage = GUsage(
            input_tokens=total,
            output_tokens=counts.get("output_tokens", 0),
            cache_read_tokens=counts.get("cache_read_tokens", 0),
            cache_write_tokens=counts.get("cache_write_tokens", 0),
        )
        return float(calc_price(usage, name).total_price * Decimal(1_000_000) / Decimal(1_000))

    try:
        return Price(
            input=rate(input_tokens=1000),
            output=rate(output_tokens=1000),
            cache_read=rate(input_tokens=1000, cache_read_tokens=1000),
            cache_write=rate(input_tokens=1000, cache_write_tokens=1000),
        )
    except (LookupError, ValueError):
        return None


def _genai_prices_release() -> str | None:
    """Which genai-prices is installed, without importing it: its package's path and mtime (an
    upgrade or a reinstall rewrites the files)."""
    from importlib.util import find_spec

    try:
        spec = find_spec("genai_prices")
        origin = spec.origin if spec is not None else None
        return f"{origin}@{os.stat(origin).st_mtime_ns}" if origin else None
    except (ImportError, ValueError, OSError):
        return None


def lookup_price(model: str | None, overrides: dict[str, Price] | None = None) -> Price | None:
    """The config's entry for the model (or its family), else genai-prices' rates. Unknown -> None."""
    name = normalize_model(model)
    if not name:
        return None
    found = _override(name, overrides)
    if found is None and name.startswith("amp:"):
        found = _override("amp", overrides)
    if found is not None:
        return found
    return _registry_price(_aliased(name))


def price_usage(model: str | None, usage: Usage, overrides: dict[str, Price] | None = None) -> float | None:
    """Dollars for `usage` at `model`'s rates; cache reads/writes at their own rates when known,
    else at the input rate (the conservative side). None when the model is unpriced."""
    price = lookup_price(model, overrides)
    if price is None:
        return None
    read = price.cache_read if price.cache_read is not None else price.input
    write = price.cache_write if price.cache_write is not None else price.input
    dollars = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_read_tokens * read
        + usage.cache_creation_tokens * write
    ) / 1_000_000
    return round(dollars, 8)
