"""The dashboard: sessions list, the selected session's live output, its diff/timeline/metrics tabs,
a strip of running batches and a header with counts and today's cost.

State flows down: one load worker (exclusive, so a newer load cancels an older one) reads the
Store and pushes rows into the widgets. Events come up: engine events and DB changes only ask for
a reload; key actions call the engine through `app.run_engine`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from .. import actions
from .. import format as fmt
from ..engine.clock import to_iso
from ..live_tail import history_lines, past_output
from ..messages import DataChanged, EngineEventMessage
from ..widgets.batch_strip import BatchStrip
from ..widgets.diff_view import DiffView
from ..widgets.footer import KeyFooter
from ..widgets.nav import NavMixin
from ..widgets.output_log import OutputLog, feed_items
from ..widgets.session_list import OVERLAP_MARK, SessionRow, SessionTable
from ..widgets.timeline import Timeline, metrics_text
from . import session_actions

if TYPE_CHECKING:  # the engine's models (and the tabs' widgets)
    from textual.widgets import TabbedContent

    # the engine's models (pydantic) load with the engine, after the first paint
    from ..app import AmpsmApp
    from ..engine.store.overview import RowTotals, SessionListItem

NARROW_WIDTH = 110
#: The clock: spinners step every tick; ages and other rows' cells every TICKS_PER_AGE ticks.
TICK_S = 0.25
TICKS_PER_AGE = 4
NOTIFY_STATUSES = {"awaiting-input": "warning", "error": "error", "interrupted": "warning"}


class DashboardScreen(NavMixin, session_actions.SessionActions, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *actions.bindings("app", only=("quit", "help", "batches"), namespace="app."),
        *actions.bindings("dashboard"),
        *actions.bindings("output"),
        *actions.bindings("nav"),
    ]
    CONTEXTS = ("dashboard", "output", "nav")

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, SessionListItem] = {}
        self.selected: str | None = None
        self._statuses: dict[str, str] = {}
        self._statuses_loaded = False
        self._batch_status: dict[str, str] = {}
        self._reload_pending = False
        self._loading = False  # a load is in progress: requests wait for it (`request_reload`)
        self._reload_again = False
        self._load_seq = 0
        self._first_load = True
        # each session's list row, and the row the detail pane was last loaded for
        self._rows: dict[str, tuple[SessionListItem, RowTotals]] = {}
        self._detail_row: tuple[SessionListItem, RowTotals] | None = None
        self._ticks = 0
        self._tabs_ready = asyncio.Event()
        self._tabs_started = False
        self._painted = False
        # the session whose history the output pane holds: a detail load that a change cancelled
        # in its read leaves it unset, so the next load reads the history again
        self._output_of: str | None = None
        self._summary: tuple[list[SessionListItem], float, int] | None = None
        self._overlap_key: tuple[tuple[str, str, str], ...] | None = None

    @property
    def ampsm(self) -> AmpsmApp:
        return self.app

    def compose(self) -> ComposeResult:
        # The layout class before the first styling (set in `on_mount`, it restyles every widget).
        self.set_class(self.app.size.width < NARROW_WIDTH, "-narrow", update=False)
        yield Static(Text(" ampsm ", style="bold reverse") + Text("  opening…", style="dim"), id="summary")
        with Container(id="main"):
            with Vertical(id="sessions-pane"):
                yield Static("", id="sessions-empty", classes="empty-hint")
                yield SessionTable(id="sessions")
                # The filter box is mounted the first time `/` is pressed (`action_filter`).
            with Vertical(id="detail-pane"):
                yield Static("", id="overlap-note")  # the selected session's ⚠ spelled out
                yield OutputLog(id="output", max_lines=self.ampsm.output_max_lines)
                # The Diff/Timeline/Metrics tabs are mounted after the first paint, once shown (`_ensure_tabs`).
        yield BatchStrip(id="batch-strip")
        yield KeyFooter(compact=self.app.size.width < NARROW_WIDTH)

    def _where(self) -> str:
        """Which workspace this is: the DB path, with the home directory as ~ (snapshots fix the label)."""
        from pathlib import Path

        label = getattr(self.ampsm, "workspace_label", None)
        if label:
            return str(label)
        path = str(self.ampsm.config.db_path)
        home = str(Path.home())
        return "db " + ("~" + path[len(home) :] if path.startswith(home + "/") else path)

    def on_mount(self) -> None:
        self.query_one("#sessions-pane").border_title = "Sessions"

        self.query_one("#output").border_title = "Output"
        self.query_one(SessionTable).focus()
        self._apply_width(self.app.size.width)
        self.query_one(OutputLog).feed_line("detail", "Opening the database …")
        # Painted now; the rows come once the engine is open (the app calls `engine_ready`).
        self.call_after_refresh(self._after_first_paint)
        if self.ampsm.engine_open:
            self.reload()
        self.set_interval(TICK_S, self._tick, name="dashboard-clock")

    def tabs(self) -> TabbedContent:
        return self.query_one("#tabs")  # type: ignore[return-value]

    def _after_first_paint(self) -> None:
        self._painted = True
        if not self.has_class("-narrow"):
            self.call_later(self._ensure_tabs)

    async def _ensure_tabs(self) -> None:
        """The tabs (a dozen widgets and their CSS) are built after the first frame, and only once they
        are shown: beside the output when wide, or on a narrow terminal when a tab key asks for one."""
        if not self._tabs_started:
            self._tabs_started = True
            await self._mount_tabs()
        await self._tabs_ready.wait()

    async def _mount_tabs(self) -> None:
        from textual.widgets import TabbedContent, TabPane

        tabs = TabbedContent(id="tabs")
        await self.query_one("#detail-pane").mount(tabs)
        for pane in (
            TabPane("Diff", DiffView(id="diff"), id="tab-diff"),
            TabPane("Timeline", Timeline(id="timeline"), id="tab-timeline"),
            TabPane("Metrics", Static(id="metrics"), id="tab-metrics"),
        ):
            await tabs.add_pane(pane)
        tabs.active = "tab-diff"
        self._tabs_ready.set()
        if self.selected:  # the rows came first: fill the tabs in for the selected session
            self.load_detail(self.selected, reset_output=False)
        elif not self._first_load:  # an empty list came first: the tabs say so, whichever came first
            self._empty_tabs()

    def engine_ready(self) -> None:
        output = self.query_one(OutputLog)
        output.clear()
        output.feed_line("detail", f"Opened {self._where()}")
        self._show_where()
        self.reload()

    def _tick(self) -> None:
        """Ages, elapsed times and spinners move with the clock, between loads."""
        self._ticks += 1
        table = self.query_one(SessionTable)
        if table.row_count:
            table.tick(self.ampsm.clock(), all_rows=self._ticks % TICKS_PER_AGE == 0)

    def on_resize(self) -> None:
        self._apply_width(self.size.width)
        self._show_summary()

    def _apply_width(self, width: int) -> None:
        """Side by side from NARROW_WIDTH up, stacked below; the table lays its own columns out."""
        self.set_class(width < NARROW_WIDTH, "-narrow")
        self.query_one(Footer).compact = width < NARROW_WIDTH
        if width >= NARROW_WIDTH and self._painted and not self._tabs_started:
            self.call_later(self._ensure_tabs)

    # -- loading ----------------------------------------------------------------------------

    @work(exclusive=True, group="dashboard-load", exit_on_error=False)
    async def reload(self) -> None:
        self._load_seq += 1
        seq = self._load_seq
        self._loading = True
        try:
            store = self.ampsm.store
            rows = await store.list_session_rows()
            now = self.ampsm.clock()
            midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            today_cost, today_unpriced = await store.cost_since(to_iso(midnight))
            batches = await store.active_batch_progress()
            self._apply(rows, now, today_cost, today_unpriced, batches)
        finally:
            if seq == self._load_seq:  # the newest load (not one a direct `reload()` replaced)
                self._loading = False
                if self._reload_again:
                    self._reload_again = False
                    self.call_later(self.reload)

    def _apply(
        self,
        rows: list[tuple[SessionListItem, RowTotals]],
        now: datetime,
        today_cost: float,
        today_unpriced: int,
        batches: list[Any],
    ) -> None:
        sessions = [s for s, _ in rows]
        self.sessions = {s.id: s for s in sessions}
        self._rows = {s.id: (s, t) for s, t in rows}
        table = self.query_one(SessionTable)
        table.show([SessionRow(s, t) for s, t in rows], now)
        self._notify_transitions(sessions)
        self._notify_batches(batches)
        self.query_one(BatchStrip).show(batches)
        self._summary = (sessions, today_cost, today_unpriced)
        self._check_overlaps(sessions)
        self._show_summary()
        self._show_empty_hint(len(sessions), table)
        if table.selected_id != self.selected or self._first_load:
            self._first_load = False
            self._select(table.selected_id)
        elif self.selected and self._rows.get(self.selected) != self._detail_row:
            # Only when the selected session changed: a change to another one leaves its detail (and
            # the git diff behind it) alone.
            self._detail_row = self._rows.get(self.selected)
            self.load_detail(self.selected, reset_output=False)

    @work(exclusive=True, group="dashboard-overlaps", exit_on_error=False)
    async def _check_overlaps(self, sessions: list[SessionListItem]) -> None:
        """Flag live sessions of one repo touching the same files (git runs only for repos with two
        live sessions, and only when one of those changed since the last check)."""
        from ..engine.overlap import find_overlaps, sharing_a_repo

        pairs = sharing_a_repo(sessions)
        key = tuple((s.id, s.status.value, s.updated_at) for s in pairs)
        if key == self._overlap_key:
            return
        found = await find_overlaps(pairs) if pairs else {}
        self._overlap_key = key
        self.query_one(SessionTable).set_overlaps(
            {sid: "; ".join(o.describe() for o in os) for sid, os in found.items()}
        )
        self._show_overlap()

    def _show_overlap(self) -> None:
        """The selected session's ⚠ spelled out above its output: the live session it overlaps, on
        which files, and the conflict git predicts (what the review screen repeats before landing)."""
        text = self.query_one(SessionTable).overlaps.get(self.selected or "", "")
        note = self.query_one("#overlap-note", Static)
        note.update(Text(OVERLAP_MARK + text, style="bold yellow") if text else "")
        note.display = bool(text)

    def _show_summary(self) -> None:
        """The header line: what needs you first (running, waiting, filter, sort), then today's cost and
        which DB this is; parts that do not fit the width are dropped from the end, never cut."""
        if self._summary is None:
            return
        sessions, today_cost, today_unpriced = self._summary
        table = self.query_one(SessionTable)
        running = sum(1 for s in sessions if s.status.value == "running")
        waiting = sum(1 for s in sessions if s.status.value == "awaiting-input")
        parts: list[tuple[str, str]] = [
            (" ampsm ", "bold reverse"),
            (f" ▶{running} running", "bold cyan" if running else "dim"),
            (f" ?{waiting} waiting", "bold yellow" if waiting else "dim"),
        ]
        if table.filter_text:
            parts.append((f" filter “{table.filter_text}” {table.matching}/{len(sessions)}", "bold italic"))
        shown = f" {table.row_count} shown" if table.matching > table.row_count else ""
        parts.append((f" · {fmt.plural(len(sessions), 'session')}{shown} · sort {table.sort_label}", ""))
        parts.append((" · today " + fmt.cost(today_cost if today_cost or not today_unpriced else None,
                                              unpriced=today_unpriced), ""))  # fmt: skip
        width = max(20, self.size.width or self.app.size.width)
        summary = Text(no_wrap=True, overflow="crop")
        for text, style in parts:
            if summary.cell_len + len(text) > width:
                break
            summary.append(text, style=style)
        self.query_one("#summary", Static).update(summary)
        self._show_where()

    def _show_where(self) -> None:
        """Which DB this is, on the sessions pane's bottom border (always there, whatever the width)."""
        pane = self.query_one("#sessions-pane")
        where = self._where()
        if len(where) > pane.size.width - 6 and not getattr(self.ampsm, "workspace_label", None):
            db = self.ampsm.config.db_path
            where = f"db …/{db.parent.name}/{db.name}"
        pane.border_subtitle = where

    def _show_empty_hint(self, total: int, table: SessionTable) -> None:
        """One line saying what to press when the list is empty (no sessions, or none match)."""
        hint = self.query_one("#sessions-empty", Static)
        keymap = self.ampsm.user_keymap
        if total == 0:
            new = actions.display_keys(actions.by_id("new_session"), keymap)
            text = f"No sessions yet: press {new} to create one (or: ampsm new)"
        elif table.row_count == 0 and table.filter_text:
            text = f"No session matches “{table.filter_text}”: esc clears the filter"
        else:
            text = ""
        hint.update(text)
        hint.display = bool(text)

    def _notify_transitions(self, sessions: list[SessionListItem]) -> None:
        # The first load only learns the statuses; an empty DB counts as loaded (a session that
        # appears later already awaiting input is a transition worth a notification).
        first, self._statuses_loaded = not self._statuses_loaded, True
        for s in sessions:
            status = s.status.value
            before = self._statuses.get(s.id)
            self._statuses[s.id] = status
            if first or before == status or status not in NOTIFY_STATUSES:
                continue
            why = {"awaiting-input": "needs input", "error": "failed", "interrupted": "was interrupted"}[status]
            detail = f": {s.last_error}" if s.last_error and status != "awaiting-input" else ""
            self.ampsm.alert(f"{s.name} ({s.id}) {why}{detail}", title="Session", severity=NOTIFY_STATUSES[status])

    def _notify_batches(self, batches: list[Any]) -> None:
        seen = {b.batch_id: b.status for b in batches}
        for batch_id, status in self._batch_status.items():
            ended = batch_id not in seen or seen[batch_id] not in ("pending", "running")
            if ended and status in ("pending", "running"):
                self.ampsm.alert(f"Batch {batch_id} finished", title="Batch")
        self._batch_status = seen

    def request_reload(self) -> None:
        """A change (an engine event, another process's commit) asks for a reload: at once, and bursts
        coalesced. A load in progress is never cancelled by a request (a stream of changes kept the list
        stale until it paused): the requests made during a load become one more load after it."""
        if self._loading:
            self._reload_again = True
            return
        if self._reload_pending:
            return
        self._reload_pending = True

        def go() -> None:
            self._reload_pending = False
            if self._loading:
                self._reload_again = True
            else:
                self.reload()

        self.call_later(go)

    @on(DataChanged)
    def _on_data_changed(self) -> None:
        self.request_reload()

    @on(EngineEventMessage)
    def _on_engine_event(self, message: EngineEventMessage) -> None:
        self.request_reload()

    # -- selection and detail ---------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#sessions")
    def _on_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if key != self.selected:
            self._select(key)

    @on(DataTable.RowSelected, "#sessions")
    def _on_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_session()

    def _select(self, session_id: str | None) -> None:
        self.selected = session_id
        self._show_overlap()
        output = self.query_one(OutputLog)
        output.clear()
        self._output_of = None
        self.ampsm.transcripts.detach(output)
        self._detail_row = self._rows.get(session_id) if session_id else None
        if session_id is None:
            table = self.query_one(SessionTable)
            if self.sessions and table.filter_text:
                output.feed_line("detail", f"No session matches “{table.filter_text}”: escape clears the filter.")
            elif self.ampsm.engine_open:
                output.feed_line("detail", "No sessions yet. Press n to create one, ? for help.")
            self._empty_tabs()
            return
        self.load_detail(session_id, reset_output=True)

    def _empty_tabs(self) -> None:
        """The tabs' empty states (nothing selected), once they exist."""
        if self._tabs_ready.is_set():
            self.query_one(Timeline).show([])
            self.query_one("#metrics", Static).update("")
            self.query_one(DiffView).show_diff("")

    @work(exclusive=True, group="dashboard-detail", exit_on_error=False)
    async def load_detail(self, session_id: str, *, reset_output: bool) -> None:
        store = self.ampsm.store
        iterations = await store.list_iterations(session_id)
        tabs = self._tabs_ready.is_set()
        if tabs:
            self.query_one(Timeline).show(iterations)
            self.query_one("#metrics", Static).update(metrics_text(iterations))
        output = self.query_one(OutputLog)
        if reset_output or self._output_of != session_id:
            calls = await store.list_tool_calls(session_id=session_id)
            tools: dict[int, list[str]] = {}
            for call in calls:
                mark = {True: " ✓", False: " ✗", None: ""}[call.ok]
                tools.setdefault(call.iteration_id, []).append(f"{call.name}  {call.args_summary}{mark}")
            seen = self.ampsm.transcripts.iterations_seen(session_id)
            session = await store.get_session(session_id)
            if session is not None:
                items = await asyncio.to_thread(
                    past_output, session, iterations, lambda its: history_lines(its, tools, set()), seen
                )
                feed_items(output, items)
            if not iterations and not self.ampsm.transcripts.has(session_id):
                output.feed_line("hint", "No iterations yet: i runs the agent, c starts a chat.")
            self.ampsm.transcripts.attach(session_id, output)
            self._output_of = session_id
        narrow_hidden = self.has_class("-narrow") and not self.has_class("-tab")
        if tabs and self.tabs().active == "tab-diff" and not narrow_hidden:
            await self._load_diff(session_id)

    async def _load_diff(self, session_id: str) -> None:
        diff_view = self.query_one(DiffView)
        session = self.sessions.get(session_id)
        if session is None or session.status.value == "archived":
            diff_view.empty_message = "Archived: no worktree to diff."
            diff_view.show_diff("")
            return
        try:
            text = await self.ampsm.engine.sessions.diff(session_id, last_iteration=diff_view.last_iteration)
        except Exception as exc:  # a missing worktree must not break the dashboard
            diff_view.empty_message = f"Diff unavailable: {exc}"
            text = ""
        diff_view.show_diff(text)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if self.selected and event.pane.id == "tab-diff":
            self.load_detail(self.selected, reset_output=False)

    @on(DiffView.ScopeToggled)
    async def _on_scope(self, event: DiffView.ScopeToggled) -> None:
        self.query_one(DiffView).last_iteration = event.last_iteration
        if self.selected:
            self.load_detail(self.selected, reset_output=False)

    # -- filter, sort, navigation -------------------------------------------------------------

    async def action_filter(self) -> None:
        boxes = self.query("#filter").results(Input)
        box = next(boxes, None)
        if box is None:
            box = Input(placeholder="filter: text, status:running", id="filter", compact=True)
            box.cursor_blink = self.ampsm.cursor_blink
            await self.query_one("#sessions-pane").mount(box)
        box.add_class("-visible")
        box.focus()

    @on(Input.Changed, "#filter")
    def _on_filter_changed(self, event: Input.Changed) -> None:
        table = self.query_one(SessionTable)
        table.set_filter(event.value)
        self._show_empty_hint(len(self.sessions), table)
        self._show_summary()
        if table.selected_id != self.selected:
            self._select(table.selected_id)

    @on(Input.Submitted, "#filter")
    def _on_filter_submitted(self, event: Input.Submitted) -> None:
        box = event.input
        if not box.value:
            box.remove_class("-visible")
        self.query_one(SessionTable).focus()
        self.request_reload()

    def key_escape(self) -> None:
        box = next(self.query("#filter").results(Input), None)
        if box is None:
            return
        if box.has_focus or box.has_class("-visible"):
            box.value = ""
            box.remove_class("-visible")
            self.query_one(SessionTable).set_filter("")
            self.query_one(SessionTable).focus()
            self.request_reload()

    def action_cycle_sort(self) -> None:
        label = self.query_one(SessionTable).cycle_sort()
        self.notify(f"Sorted by {label}", timeout=2)
        self.request_reload()

    def action_focus_next_pane(self) -> None:
        self.focus_next()

    def action_refresh(self) -> None:
        self._detail_row = None  # `r` reloads the selected session's detail too
        self._overlap_key = None  # worktrees edited by hand: look at the overlaps again too
        self.reload()

    async def _show_tab(self, pane: str) -> None:
        """The Diff/Timeline/Metrics tabs; on a narrow terminal (tabs hidden under the output) the tab
        takes the output's place, and the same key again brings the output back."""
        await self._ensure_tabs()
        tabs = self.tabs()
        if self.has_class("-narrow") and self.has_class("-tab") and tabs.active == pane:
            self.remove_class("-tab")
            return
        tabs.active = pane
        self.set_class(self.has_class("-narrow"), "-tab")
        if self.selected:
            self.load_detail(self.selected, reset_output=False)

    async def action_tab_diff(self) -> None:
        await self._show_tab("tab-diff")

    async def action_tab_timeline(self) -> None:
        await self._show_tab("tab-timeline")

    async def action_tab_metrics(self) -> None:
        await self._show_tab("tab-metrics")

    def action_toggle_details(self) -> None:
        self.query_one(OutputLog).action_toggle_details()

    def action_follow(self) -> None:
        self.query_one(OutputLog).action_follow()

    def select_session(self, session_id: str) -> None:
        """Move the cursor to `session_id` once the next load has its row."""
        self.query_one(SessionTable).want_selected = session_id
        self.request_reload()

    def selected_session(self) -> SessionListItem | None:
        return self.sessions.get(self.selected) if self.selected else None
