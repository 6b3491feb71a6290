"""A session's iterations as a table: commit, files, +/-, tokens, cost, test result, prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from .. import format as fmt
from . import display
from .table import Table

if TYPE_CHECKING:
    from ..engine.models import Iteration

COLUMNS = ("#", "Status", "Commit", "Files", "+/-", "Tokens", "Cost", "Test", "Prompt")


class Timeline(Table[Text | str]):
    DEFAULT_CSS = """
    Timeline { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self._shown: list[tuple[object, ...]] | None = None

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)

    def show(self, iterations: list[Iteration]) -> None:
        """The rows for `iterations`. A reload that changes nothing leaves the table alone (the
        screen reloads on every change in the DB: rebuilding cost the selected row, and left the
        columns at their header widths until the table's next idle); one that does keeps the
        selected row where it can."""
        shown: list[tuple[object, ...]] = [
            (it.number, it.status, it.commit_sha, it.files_changed, it.lines_added, it.lines_removed,
             it.input_tokens, it.output_tokens, it.cost_usd, it.total_tokens, it.test_exit_code, it.prompt)
            for it in iterations
        ]  # fmt: skip
        if shown == self._shown:
            return
        self._shown = shown
        selected = self.cursor_row
        self.clear()
        for it in iterations:
            test = display.test_result(it.test_exit_code)
            test_style = "green" if it.test_exit_code == 0 else ("red" if it.test_exit_code is not None else "dim")
            prompt = (it.prompt or "").replace("\n", " ")
            self.add_row(
                str(it.number),
                it.status.value,
                (it.commit_sha or "–")[:8],
                str(it.files_changed),
                Text.assemble((f"+{it.lines_added}", "green"), " ", (f"-{it.lines_removed}", "red")),
                fmt.tokens(fmt.token_total(it.input_tokens, it.output_tokens)),
                fmt.iteration_cost(it.cost_usd, it.total_tokens),
                Text(test, style=test_style),
                Text(prompt[:60], no_wrap=True, overflow="ellipsis"),
                key=str(it.number),
            )
        if iterations and selected > 0:
            self.move_cursor(row=min(selected, len(iterations) - 1), animate=False)


def metrics_text(iterations: list[Iteration]) -> Text:
    """The metrics tab: totals of tokens by kind, cost, tests, time."""
    if not iterations:
        return Text("No iterations yet.", style="italic")
    priced = [it.cost_usd for it in iterations if it.cost_usd is not None]
    unpriced = sum(1 for it in iterations if it.cost_usd is None and it.total_tokens)
    passed = sum(1 for it in iterations if it.test_exit_code == 0)
    tested = sum(1 for it in iterations if it.test_exit_code is not None)
    models = sorted({it.model for it in iterations if it.model})
    tokens_in = sum(it.input_tokens for it in iterations)
    tokens_out = sum(it.output_tokens for it in iterations)
    cache = sum(it.cache_read_tokens + it.cache_creation_tokens for it in iterations)
    rows = [
        ("Iterations", str(len(iterations))),
        (
            "Tokens",
            f"{fmt.tokens(fmt.token_total(tokens_in, tokens_out))} ({fmt.token_split(tokens_in, tokens_out, cache)})",
        ),
        (
            "Cache r/w",
            f"{fmt.tokens(sum(it.cache_read_tokens for it in iterations))} / "
            f"{fmt.tokens(sum(it.cache_creation_tokens for it in iterations))}",
        ),
        ("Cost", fmt.cost(sum(priced) if priced else None, unpriced=unpriced)),
        ("Tests passed", f"{passed}/{tested}"),
        ("Lines +/-", f"+{sum(it.lines_added for it in iterations)} -{sum(it.lines_removed for it in iterations)}"),
        ("Models", ", ".join(models) or "–"),
    ]
    out = Text()
    for label, value in rows:
        out.append(f"{label:<13}", style="bold")
        out.append(value + "\n")
    return out
