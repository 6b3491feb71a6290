"""How domain values are shown in cells: status glyphs, ages, token counts and costs."""

from __future__ import annotations

from datetime import datetime

from ..engine.clock import parse_iso

STATUS_GLYPHS: dict[str, str] = {
    "running": "▶",
    "awaiting-input": "?",
    "error": "✗",
    "done": "✓",
    "idle": "○",
    "interrupted": "!",
    "archived": "▪",
}

STATUS_STYLES: dict[str, str] = {
    "running": "bold $accent",
    "awaiting-input": "bold $warning",
    "error": "bold $error",
    "done": "$success",
    "idle": "$foreground-muted",
    "interrupted": "$warning",
    "archived": "$foreground-disabled",
}

#: Rich styles for the same (DataTable cells are Rich text, where `$variables` do not resolve).
STATUS_RICH: dict[str, str] = {
    "running": "bold cyan",
    "awaiting-input": "bold yellow",
    "error": "bold red",
    "done": "green",
    "idle": "dim",
    "interrupted": "yellow",
    "archived": "dim",
}


def glyph(status: str) -> str:
    return STATUS_GLYPHS.get(status, "·")


def age(created_at: str, now: datetime) -> str:
    if not created_at:
        return ""
    try:
        seconds = max(0, int((now - parse_iso(created_at)).total_seconds()))
    except ValueError:
        return ""
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def tokens(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    if count >= 1000:
        return f"{count / 1000:.1f}k"
    return str(count)


def cost(value: float | None, *, unpriced: int = 0) -> str:
    """Dollars; unknown costs are "unpriced", never $0 (lesson 22)."""
    if value is None:
        return "unpriced" if unpriced else "–"
    text = f"${value:.2f}"
    return f"{text}+?" if unpriced else text


def test_result(exit_code: int | None) -> str:
    if exit_code is None:
        return "–"
    return "pass" if exit_code == 0 else f"fail({exit_code})"
