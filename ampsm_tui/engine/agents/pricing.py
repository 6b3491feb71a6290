"""Tokens to dollars for agents that report no cost (Amp, Codex, Gemini; Claude reports its own).

Prices are dollars per million tokens, from the vendors' public price lists; the config's `pricing`
section overrides or extends them (same keys: input, output, cache_read, cache_write). A model that is
in neither gives None, shown as "unpriced" — never $0 (lesson 22).

Amp's stream names no model (its mode picks one server-side), so Amp turns are priced as `amp`, or
`amp:<mode>` when a mode was chosen, both falling back to the `amp` entry: Claude Sonnet-class rates,
Amp's default model family. Put `amp:ultra` (or `amp`) under `pricing` in the config to change it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Price

if TYPE_CHECKING:
    from .base import Usage

_SONNET = Price(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75)

DEFAULT_PRICES: dict[str, Price] = {
    # Anthropic
    "claude-opus-4-5": Price(input=5.0, output=25.0, cache_read=0.50, cache_write=6.25),
    "claude-opus-4-1": Price(input=15.0, output=75.0, cache_read=1.50, cache_write=18.75),
    "claude-opus-4": Price(input=15.0, output=75.0, cache_read=1.50, cache_write=18.75),
    "claude-sonnet-4-5": _SONNET,
    "claude-sonnet-4": _SONNET,
    "claude-3-7-sonnet": _SONNET,
    "claude-haiku-4-5": Price(input=1.0, output=5.0, cache_read=0.10, cache_write=1.25),
    "claude-3-5-haiku": Price(input=0.80, output=4.0, cache_read=0.08, cache_write=1.0),
    # Amp (see the module docstring)
    "amp": _SONNET,
    # OpenAI (cached input is a discounted read; no separate write price)
    "gpt-5.1-codex": Price(input=1.25, output=10.0, cache_read=0.125),
    "gpt-5.1": Price(input=1.25, output=10.0, cache_read=0.125),
    "gpt-5-codex": Price(input=1.25, output=10.0, cache_read=0.125),
    "gpt-5-mini": Price(input=0.25, output=2.0, cache_read=0.025),
    "gpt-5-nano": Price(input=0.05, output=0.40, cache_read=0.005),
    "gpt-5": Price(input=1.25, output=10.0, cache_read=0.125),
    "gpt-4.1": Price(input=2.0, output=8.0, cache_read=0.50),
    "o4-mini": Price(input=1.10, output=4.40, cache_read=0.275),
    # Google (prompts up to 200k tokens)
    "gemini-2.5-pro": Price(input=1.25, output=10.0, cache_read=0.31),
    "gemini-2.5-flash-lite": Price(input=0.10, output=0.40, cache_read=0.025),
    "gemini-2.5-flash": Price(input=0.30, output=2.50, cache_read=0.075),
}


def lookup_price(model: str | None, overrides: dict[str, Price] | None = None) -> Price | None:
    """Exact name first (config, then defaults), then the longest known prefix, so a dated
    `claude-sonnet-4-5-20250929` or `amp:high` finds its family. Unknown -> None."""
    if not model:
        return None
    tables = [overrides or {}, DEFAULT_PRICES]
    name = model.strip().lower()
    for table in tables:
        for key, price in table.items():
            if key.lower() == name:
                return price
    for table in tables:
        best: tuple[int, Price] | None = None
        for key, price in table.items():
            k = key.lower()
            if (
                name.startswith(k)
                and name[len(k) : len(k) + 1] in ("-", ":", "@", "/", ".")
                and (best is None or len(k) > best[0])
            ):
                best = (len(k), price)
        if best is not None:
            return best[1]
    return None


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
