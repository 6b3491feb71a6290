"""One line per running batch: a progress bar built from its items' statuses in the Store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:  # the store package is imported once the engine opens, after the first paint
    from ..engine.store.overview import BatchProgressRow


def progress_line(row: BatchProgressRow, width: int = 20) -> Text:
    filled = int(width * row.done / row.total) if row.total else 0
    bar = "█" * filled + "░" * (width - filled)
    out = Text()
    out.append(f"⧉ {row.name} ", style="bold")
    out.append(bar, style="green" if not row.failed else "yellow")
    out.append(f" {row.done}/{row.total}")
    if row.running:
        out.append(f"  ▶{row.running}", style="cyan")
    if row.failed:
        out.append(f"  ✗{row.failed}", style="red")
    if row.status not in ("pending", "running"):
        out.append(f"  {row.status}", style="dim")
    return out


class BatchStrip(Static):
    """Hidden (display: none via the `-empty` class) when no batch is running."""

    DEFAULT_CSS = """
    BatchStrip { height: auto; max-height: 3; padding: 0 1; background: $panel; }
    BatchStrip.-empty { display: none; }
    """

    def show(self, rows: list[BatchProgressRow]) -> None:
        self.set_class(not rows, "-empty")
        text = Text()
        for n, row in enumerate(rows[:3]):
            if n:
                text.append("\n")
            text.append_text(progress_line(row))
        self.update(text)
