"""How domain values are shown in cells: status glyphs and colours; numbers go through `ampsm_tui.format`."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from .. import format as fmt

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
    return fmt.age(fmt.seconds_between(created_at, now))


def tokens(count: int) -> str:
    return fmt.tokens(count)


def cost(value: float | None, *, unpriced: int = 0) -> str:
    """Dollars; unknown costs are "unpriced", never $0 (lesson 22)."""
    return fmt.cost(value, unpriced=unpriced, short=True)


def test_result(exit_code: int | None) -> str:
    if exit_code is None:
        return "–"
    return "pass" if exit_code == 0 else f"fail({exit_code})"


def test_cell(exit_code: int | None) -> Text:
    """The Test column: pass / fail, coloured (the exit code is in the detail)."""
    if exit_code is None:
        return Text("–", style="dim")
    return Text("pass", style="green") if exit_code == 0 else Text("fail", style="bold red")
