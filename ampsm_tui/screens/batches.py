"""The batch monitor (`b`): every batch with a progress bar, the selected batch's items live.

Everything shown is read from the Store, so a batch run by a headless `ampsm batch start` in
another terminal updates here too (the app's DB poll posts DataChanged). `enter` on an item opens
its session. A best-of item (`agents:`/`bestOf:`) is shown as one row with its candidates under
it, the winner starred once the batch has ranked them; `enter` on that row opens the ranked group.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from .. import actions
from .. import format as fmt
from ..engine.limits import item_state
from ..messages import DataChanged, EngineEventMessage
from ..widgets.footer import KeyFooter
from ..widgets.nav import NavMixin
from ..widgets.table import Table

if TYPE_CHECKING:
    from ..app import AmpsmApp
    from ..engine.models import BatchRun

STATUS_STYLE = {
    "succeeded": "green",
    "done": "green",
    "failed": "red",
    "error": "red",
    "running": "yellow",
    "aborted": "magenta",
    "stalled": "magenta",
    "pending": "dim",
    "paused": "cyan",  # waiting for an agent's usage limit to reset
}


EMPTY_HINT = "No batches yet: ampsm batch start --file F (YAML: prompts × repos)"


def progress_bar(done: int, total: int, width: int = 16) -> Text:
    filled = int(width * done / total) if total else 0
    return Text("█" * filled + "░" * (width - filled), style="green")


def _elapsed(row: dict[str, Any], now: Any) -> str:
    from ..engine.clock import parse_iso

    if not row.get("started_at"):
        return "–"
    end = parse_iso(row["ended_at"]) if row.get("ended_at") else now
    secs = max(0, int((end - parse_iso(row["started_at"])).total_seconds()))
    return f"{secs // 60}:{secs % 60:02d}"


class BatchesScreen(NavMixin, Screen[None]):
    """Batches on top, the highlighted batch's items below."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *actions.bindings("form", only=("close",)),
        *actions.bindings("monitor"),
        *actions.bindings("dashboard", only=("refresh",)),
        *actions.bindings("nav"),
    ]
    CONTEXTS = ("monitor", "nav")

    DEFAULT_CSS = """
    BatchesScreen #batches { height: auto; max-height: 40%; }
    BatchesScreen #items { height: 1fr; }
    BatchesScreen .title { padding: 0 1; background: $panel; text-style: bold; }
    """

    class OpenSession(Message):
        """An item's session should be shown (the screen also opens it itself)."""

        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.session_id = session_id

    def __init__(self, on_open: Callable[[str], None] | None = None) -> None:
        """`on_open(session_id)` shows a session; by default the session detail screen is pushed."""
        super().__init__()
        self.on_open = on_open
        self.selected: str | None = None
        self._item_sessions: dict[str, str | None] = {}
        self._group_rows: dict[str, str | None] = {}  # a best-of row -> a ranked candidate (or None)
        self._any_running = False

    @property
    def ampsm(self) -> AmpsmApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Batches", classes="title")
            yield Static(EMPTY_HINT, id="batches-empty", classes="empty-hint")
            yield Table(id="batches", cursor_type="row", zebra_stripes=True)
            yield Static("Items", classes="title", id="items-title")
            yield Table(id="items", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        batches = self.query_one("#batches", DataTable)
        batches.add_columns("batch", "name", "status", "progress", "done", "running", "failed", "created")
        items = self.query_one("#items", DataTable)
        items.add_columns("#", "item", "repo", "status", "elapsed", "tokens", "cost", "session", "note")
        self.reload()
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        """Elapsed times move while items run; other changes arrive as DataChanged."""
        if self._any_running:
            self.reload()

    @on(DataChanged)
    def _on_data(self, _: DataChanged) -> None:
        self.reload()

    @on(EngineEventMessage)
    def _on_engine(self, message: EngineEventMessage) -> None:
        if message.event.topic.startswith("batch."):
            self.reload()

    def action_refresh(self) -> None:
        self.reload()

    def action_close(self) -> None:
        self.dismiss()

    @work(exclusive=True, group="batches-reload", exit_on_error=False)
    async def reload(self) -> None:
        from ..engine.scheduler import is_stalled

        store = self.ampsm.store
        runs: list[BatchRun] = await store.list_batches(limit=100)
        counts = {r.id: await store.batch_counts(r.id) for r in runs}
        if self.selected is None and runs:
            self.selected = runs[0].id
        rows = await store.batch_item_stats(self.selected) if self.selected else []
        run = next((r for r in runs if r.id == self.selected), None)
        parents = best_of_parents(run)
        winners: dict[str, str | None] = {}
        if parents:
            import asyncio

            winners = await asyncio.to_thread(ranked_winners, self.ampsm.engine)
        self._fill_batches(runs, counts, {r.id: is_stalled(r) for r in runs})
        self._fill_items(rows, parents, winners)

    def _fill_batches(self, runs: list[BatchRun], counts: dict[str, dict[str, int]], stalled: dict[str, bool]) -> None:
        self.query_one("#batches-empty", Static).display = not runs
        table = self.query_one("#batches", DataTable)
        table.clear()
        for run in runs:
            c = counts[run.id]
            total = sum(c.values())
            done = c.get("succeeded", 0) + c.get("failed", 0)
            status = "stalled" if stalled[run.id] else str(run.status)
            table.add_row(
                run.id,
                run.name,
                Text(status, style=STATUS_STYLE.get(status, "")),
                progress_bar(done, total),
                f"{done}/{total}",
                str(c.get("running", 0)),
                str(c.get("failed", 0) + c.get("error", 0)),
                run.created_at[:19].replace("T", " "),
                key=run.id,
            )
        if self.selected and self.selected in {r.id for r in runs}:
            table.move_cursor(row=table.get_row_index(self.selected))

    def _fill_items(
        self,
        rows: list[dict[str, Any]],
        parents: dict[str, str] | None = None,
        winners: dict[str, str | None] | None = None,
    ) -> None:
        parents, winners = parents or {}, winners or {}
        table = self.query_one("#items", DataTable)
        cursor = table.cursor_row
        table.clear()
        now = self.ampsm.clock()
        self._item_sessions = {}
        self._group_rows = {}
        group: tuple[str, str] | None = None
        winner: str | None = None
        for r in rows:
            parent = parents.get(r["name"])
            name: str | Text = r["name"]
            if parent is None:
                group = None
            else:
                if group != (parent, r["repo_path"]):  # the first candidate: the best-of item's row
                    group = (parent, r["repo_path"])
                    members = [m for m in rows if parents.get(m["name"]) == parent and m["repo_path"] == group[1]]
                    winner = self._add_group_row(table, r, parent, members, winners)
                won = winner is not None and r["session_id"] == winner
                name = Text.assemble(
                    ("  ★ " if won else "  · ", "bold yellow" if won else "dim"), r["name"][len(parent) + 1 :]
                )
            cost = fmt.cost(r["cost_usd"], unpriced=r["unpriced"], short=True)
            table.add_row(
                str(r["ordinal"]),
                name,
                Path(r["repo_path"]).name,
                Text(shown := item_state(r["status"], r["error"]), style=STATUS_STYLE.get(shown, "")),
                _elapsed(r, now),
                fmt.tokens(fmt.token_total(r["input_tokens"], r["output_tokens"])),
                cost,
                r["session_id"] or "–",
                _note(r),
                key=r["id"],
            )
            self._item_sessions[r["id"]] = r["session_id"]
        self._any_running = any(r["status"] == "running" for r in rows)
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))
        title = self.query_one("#items-title", Static)
        title.update(f"Items of {self.selected}" if self.selected else "Items")

    def _add_group_row(
        self,
        table: DataTable[Any],
        first: dict[str, Any],
        parent: str,
        members: list[dict[str, Any]],
        winners: dict[str, str | None],
    ) -> str | None:
        """The best-of item's own row above its candidates; returns the winner once ranked."""
        ranked = next((m["session_id"] for m in members if m["session_id"] in winners), None)
        winner = winners.get(ranked) if ranked else None
        if ranked is None:
            note = Text("ranked when the batch ends", style="dim")
        elif winner is None:
            note = Text("ranked: none passed the gate", style="red")
        else:
            note = Text(f"★ winner {winner}", style="bold yellow")
        done = sum(1 for m in members if m["status"] in ("succeeded", "failed"))
        key = f"best-of:{first['id']}"
        table.add_row(
            "",
            Text(parent, style="bold"),
            Path(first["repo_path"]).name,
            Text(f"best-of {len(members)}", style="bold"),
            f"{done}/{len(members)}",
            "",
            "",
            winner or "–",
            note,
            key=key,
        )
        self._group_rows[key] = ranked
        return winner

    @on(DataTable.RowHighlighted, "#batches")
    def _batch_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if key and key != self.selected:
            self.selected = key
            self.reload()

    @on(DataTable.RowSelected, "#batches")
    def _batch_selected(self, _: DataTable.RowSelected) -> None:
        self.query_one("#items", DataTable).focus()

    def action_open_item(self) -> None:
        if self.focused is self.query_one("#batches", DataTable):
            self.query_one("#items", DataTable).focus()  # enter on a batch: on to its items
            return
        table = self.query_one("#items", DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key in self._group_rows:  # a best-of item: its ranked candidates side by side
            ranked = self._group_rows[key]
            if ranked is None:
                self.notify("Its candidates are ranked when the batch ends.", severity="warning")
                return
            from .best_of import BestOfScreen

            self.ampsm.push_screen(BestOfScreen(ranked))
            return
        session_id = self._item_sessions.get(key or "")
        if not session_id:
            self.notify("This item has no session yet.", severity="warning")
            return
        self.post_message(self.OpenSession(session_id))
        if self.on_open is not None:
            self.on_open(session_id)
            return
        from .session import SessionScreen

        self.ampsm.push_screen(SessionScreen(session_id))

    @on(DataTable.RowSelected, "#items")
    def _item_selected(self, _: DataTable.RowSelected) -> None:
        self.action_open_item()


def best_of_parents(run: BatchRun | None) -> dict[str, str]:
    """Each best-of candidate's item name -> its best-of item's name (from the run's batch file)."""
    from ..engine.batch import definition_of

    spec = definition_of(run) if run is not None else None
    if spec is None:
        return {}
    return {name: item.name for item in spec.items if item.is_best_of for name, _agent in item.candidates()}


def ranked_winners(engine: Any) -> dict[str, str | None]:
    """Each ranked candidate's session -> its group's winner (None: none passed the gate)."""
    from ..engine.bestof import groups

    return {c.session_id: g.winner for g in groups(engine) for c in g.candidates}


def _note(row: dict[str, Any]) -> str:
    """The item's error; an item run on a Ray cluster says on which node first (issue 20)."""
    error = (row["error"] or "")[:40]
    if not row.get("node_id"):
        return error
    node = f"on {row.get('node_host') or '?'} {row['node_id'][:8]}"
    return f"{node}: {error}" if error else node
