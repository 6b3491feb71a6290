"""The benchmark screen: runs, the selected run's leaderboard (one row per agent/model) and its
per-instance results (status, time, cost); `enter` on an instance opens its session's diff.

Everything is read from the Store, so a headless `ampsm bench start` in another terminal shows
up here as it grades (the app's DB poll posts DataChanged). The app pushes `BenchScreen()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from .. import actions
from .. import format as fmt
from ..messages import DataChanged
from ..widgets.footer import KeyFooter
from ..widgets.nav import NavMixin
from ..widgets.table import Table

if TYPE_CHECKING:
    from ..app import AmpsmApp
    from ..engine.bench.models import BenchInstance, BenchRun

STATUS_STYLE = {
    "resolved": "green",
    "done": "green",
    "unresolved": "yellow",
    "error": "red",
    "interrupted": "magenta",
    "stopped": "magenta",
    "running": "cyan",
    "empty": "dim",
    "skipped": "dim",
    "pending": "dim",
    "predicted": "blue",
}
BOARD_COLUMNS = (
    ("model_name_or_path", "agent/model"),
    ("resolved_pct", "resolved %"),
    ("resolved", "resolved"),
    ("instances", "n"),
    ("median_s", "median s"),
    ("p90_s", "p90 s"),
    ("tokens_per_instance", "tokens/inst"),
    ("cost_per_instance", "$/inst"),
    ("cost_per_resolved", "$/resolved"),
    ("iterations_per_instance", "iters"),
    ("uniquely_resolved", "only it resolved"),
)

EMPTY_HINT = "No benchmark runs yet: ampsm bench start --dataset FILE --agent amp"


def cost_cell(row: BenchInstance) -> str:
    """No agent ran: "–"; an agent ran at an unknown price: "unpriced" (never $0)."""
    if row.session_id is None:
        return "–"
    return fmt.price(row.cost_usd)


class BenchScreen(NavMixin, Screen[None]):
    """Runs on top, the highlighted run's leaderboard, then its instances."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *actions.bindings("form", only=("close",)),
        *actions.bindings("monitor"),
        *actions.bindings("dashboard", only=("refresh",)),
        *actions.bindings("nav"),
    ]
    CONTEXTS = ("monitor", "nav")

    DEFAULT_CSS = """
    BenchScreen #bench-runs { height: auto; max-height: 25%; }
    BenchScreen #bench-board { height: auto; max-height: 30%; }
    BenchScreen #bench-instances { height: 1fr; }
    BenchScreen .title { padding: 0 1; background: $panel; text-style: bold; }
    """

    def __init__(self, run_id: str | None = None, on_open: Callable[[str], None] | None = None) -> None:
        """`on_open(session_id)` shows a session's diff; by default the diff screen is pushed."""
        super().__init__()
        self.selected = run_id
        self.on_open = on_open
        self._sessions: dict[str, str | None] = {}

    @property
    def ampsm(self) -> AmpsmApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Benchmark runs", classes="title")
            yield Static(EMPTY_HINT, id="bench-empty", classes="empty-hint")
            yield Table(id="bench-runs", cursor_type="row", zebra_stripes=True)
            yield Static("Leaderboard", classes="title", id="bench-board-title")
            yield Table(id="bench-board", cursor_type="row", zebra_stripes=True)
            yield Static("Instances", classes="title")
            yield Table(id="bench-instances", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#bench-runs", DataTable).add_columns("run", "status", "mode", "created", "dataset")
        self.query_one("#bench-board", DataTable).add_columns(*(label for _, label in BOARD_COLUMNS))
        self.query_one("#bench-instances", DataTable).add_columns(
            "instance", "agent/model", "status", "time s", "tokens", "cost", "session", "reason"
        )
        self.reload()

    @on(DataChanged)
    def _on_data(self, _: DataChanged) -> None:
        self.reload()

    def action_refresh(self) -> None:
        self.reload()

    def action_close(self) -> None:
        self.dismiss()

    @work(exclusive=True, group="bench-reload", exit_on_error=False)
    async def reload(self) -> None:
        store = self.ampsm.store
        runs = await store.list_bench_runs(limit=100)
        if self.selected is None and runs:
            self.selected = runs[0].id
        rows = await store.list_bench_instances(self.selected) if self.selected else []
        self._fill_runs(runs)
        self._fill_board(rows)
        self._fill_instances(rows)

    def _fill_runs(self, runs: list[BenchRun]) -> None:
        self.query_one("#bench-empty", Static).display = not runs
        table = self.query_one("#bench-runs", DataTable)
        table.clear()
        for run in runs:
            table.add_row(
                run.id,
                Text(str(run.status), style=STATUS_STYLE.get(str(run.status), "")),
                str(run.mode),
                run.created_at[:19].replace("T", " "),
                (run.dataset_path or "").rsplit("/", 1)[-1],
                key=run.id,
            )
        if self.selected and self.selected in {r.id for r in runs}:
            table.move_cursor(row=table.get_row_index(self.selected))

    def _fill_board(self, rows: list[BenchInstance]) -> None:
        from ..engine.bench.report import fmt, leaderboard

        table = self.query_one("#bench-board", DataTable)
        table.clear()
        for entry in leaderboard(rows):
            table.add_row(*(fmt(k, getattr(entry, k)) for k, _ in BOARD_COLUMNS), key=entry.model_name_or_path)
        self.query_one("#bench-board-title", Static).update(
            f"Leaderboard of {self.selected}" if self.selected else "Leaderboard"
        )

    def _fill_instances(self, rows: list[BenchInstance]) -> None:
        table = self.query_one("#bench-instances", DataTable)
        cursor = table.cursor_row
        table.clear()
        self._sessions = {}
        for row in rows:
            key = f"{row.model_name_or_path}\t{row.instance_id}"
            status = str(row.status)
            table.add_row(
                row.instance_id,
                row.model_name_or_path,
                Text(status, style=STATUS_STYLE.get(status, "")),
                "–" if row.duration_s is None else f"{row.duration_s:.1f}",
                fmt.tokens(row.total_tokens) if row.session_id else "–",
                cost_cell(row),
                row.session_id or "–",
                (row.reason or "")[:60],
                key=key,
            )
            self._sessions[key] = row.session_id
        if rows:
            table.move_cursor(row=min(max(cursor, 0), len(rows) - 1))

    @on(DataTable.RowHighlighted, "#bench-runs")
    def _run_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if key and key != self.selected:
            self.selected = key
            self.reload()

    def action_open_item(self) -> None:
        if self.focused is not self.query_one("#bench-instances", DataTable):
            self.query_one("#bench-instances", DataTable).focus()  # enter on a run: on to its instances
            return
        table = self.query_one("#bench-instances", DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        session_id = self._sessions.get(key or "")
        if not session_id:
            self.notify("No session for this instance (graded from a predictions file).", severity="warning")
            return
        if self.on_open is not None:
            self.on_open(session_id)
            return
        from .diff import DiffScreen

        self.ampsm.push_screen(DiffScreen(session_id))

    @on(DataTable.RowSelected, "#bench-instances")
    def _instance_selected(self, _: DataTable.RowSelected) -> None:
        self.action_open_item()
