"""Argument types shared by the commands: a limit of zero or less is a usage error, never a silent
no-limit (a negative `--timeout` or `--max-cost` used to be accepted and meant nothing)."""

from __future__ import annotations

import math


def positive_float(value: str) -> float:
    """A number of seconds or dollars, greater than 0."""
    try:
        n = float(value)
    except ValueError:
        raise _invalid(f"expected a number, got {value!r}") from None
    if not math.isfinite(n) or n <= 0:
        raise _invalid(f"must be a number greater than 0, got {value}")
    return n


def positive_int(value: str) -> int:
    """A count, 1 or more."""
    try:
        n = int(value)
    except ValueError:
        raise _invalid(f"expected a whole number, got {value!r}") from None
    if n < 1:
        raise _invalid(f"must be 1 or more, got {n}")
    return n


def _invalid(message: str) -> Exception:
    import argparse  # only for a bad value: the lean commands never import argparse otherwise

    return argparse.ArgumentTypeError(message)
