"""The review & merge wizard (`m`): the branch's combined diff, a commit message pre-filled from
the iterations, and the plan: squash or keep history, rebase onto (the base branch by default),
re-run the tests, merge. The plan is a short list at the top, one line per step with its key and
its outcome, so every step is visible and reachable by key at 80x24 (the message editor shrinks
on short terminals, the diff takes what is left). A conflict opens the conflict view."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from .. import actions
from ..engine.messages import squash_message
from ..engine.models import Iteration, Session
from ..engine.review import LandPlan, StepOutcome
from ..widgets.diff_view import DiffView
from .conflict import ConflictScreen

if TYPE_CHECKING:
    from ..app import AmpsmApp


def commit_message(session: Session, iterations: list[Iteration]) -> str:
    """The wizard's pre-filled message: the engine's, so the CLI's default squash message matches."""
    return squash_message(session, iterations)


def short_command(command: str | None) -> str | None:
    """The test script as a person reads it: `/long/venv/bin/python -m unittest` -> `python -m unittest`."""
    if not command:
        return command
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:
        return command
    if not words:
        return command
    return shlex.join([words[0].rsplit("/", 1)[-1], *words[1:]])


STEPS = ("squash", "rebase", "retest", "merge")
MARKS = {True: ("✓", "green"), False: ("✗", "red"), None: ("·", "dim")}
#: Side by side (diff | plan + message) from this size up; stacked below it.
WIDE = (120, 32)


class ReviewScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *actions.bindings("form", only=("close",)),
        *actions.bindings("review"),
        *actions.bindings("diff", only=("next_file", "prev_file", "toggle_scope")),
    ]
    CONTEXTS = ("review", "diff")

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.session: Session | None = None
        self.finished = False
        self.running = False
        self.stopped = False  # the land waits (tests failed): ctrl+g resumes it, esc undoes it
        self.squash = True
        self.rebase = True
        self.retest = False
        self.onto = ""
        self.steps: list[Text] = []  # every outcome, in order (the plan shows the latest per step)
        self.outcomes: dict[str, tuple[bool | None, str]] = {}

    @property
    def ampsm(self) -> AmpsmApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(" Review & merge", id="review-title", classes="screen-title")
        with Horizontal(id="review-main"):
            with Vertical(id="review-side"):
                yield OptionList(id="plan")
                onto = Input("", placeholder="branch to rebase onto", id="onto", compact=True)
                onto.cursor_blink = self.ampsm.cursor_blink
                yield onto
                yield Static("", id="review-status")
                yield Static("", id="review-overlaps")
                message = TextArea("", id="message", soft_wrap=True)
                message.cursor_blink = self.ampsm.cursor_blink
                yield message
            yield DiffView(id="review-diff")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#plan").border_title = "Plan · ctrl+g runs it"
        self.query_one("#message").border_title = "Commit message · e edits, esc leaves"
        self._apply_size()
        self._render_plan()
        self.query_one("#plan", OptionList).focus()
        self.load()

    def on_resize(self) -> None:
        self._apply_size()

    def _apply_size(self) -> None:
        width, height = self.app.size
        wide = width >= WIDE[0] and height >= WIDE[1]
        self.set_class(not wide, "-stacked")
        self.set_class(height < 30, "-short")
        self.query_one(Footer).compact = width < WIDE[0]

    # -- the plan -------------------------------------------------------------------------------

    def _plan_label(self, step: str) -> Text:
        base = self.session.base_branch if self.session else "the base branch"
        keys = {"squash": "s", "rebase": "r", "retest": "t", "merge": "^g"}
        if step == "squash":
            on, text = self.squash, "Squash into one commit" if self.squash else "Keep history (no squash)"
        elif step == "rebase":
            on, text = self.rebase, f"Rebase onto {self.onto or base}" + ("" if self.rebase else " (skip)")
        elif step == "retest":
            script = short_command(self.session.script) if self.session else None
            if not script:
                on, text = False, "Re-run tests (no test script)"
            else:
                on, text = self.retest, f"Re-run tests: {script}" + ("" if self.retest else " (skip)")
        else:
            on, text = True, f"Merge into {base}"
        box = ("▶ " if step == "merge" else ("■ " if on else "□ ")), ("bold" if on else "dim")
        label = Text.assemble((f"{keys[step]:>2} ", "bold"), box, (text, "" if on else "dim"))
        label.truncate(38, overflow="ellipsis", pad=True)
        outcome = self.outcomes.get(step)
        if outcome is not None:
            mark, style = MARKS[outcome[0]]
            label.append(f" {mark} ", style=style)
            label.append(outcome[1], style=style if outcome[0] is False else "")
        return label

    def _render_plan(self) -> None:
        plan = self.query_one("#plan", OptionList)
        highlighted = plan.highlighted
        plan.clear_options()
        plan.add_options(Option(self._plan_label(step), id=step) for step in STEPS)
        plan.highlighted = highlighted if highlighted is not None else 0

    def step(self, ok: bool | None, text: str, key: str | None = None) -> None:
        """Record an outcome: on its step's line in the plan (when it belongs to one) and below it."""
        mark, style = MARKS[ok]
        self.steps.append(Text.assemble((mark + " ", style), text))
        if key is not None:
            self.outcomes[key] = (ok, text)
            self._render_plan()
        self.query_one("#review-status", Static).update(self.steps[-1])

    def _toggle(self, step: str) -> None:
        if self.running or self.finished:
            return
        if step == "squash":
            self.squash = not self.squash
        elif step == "rebase":
            self.rebase = not self.rebase
        elif step == "retest":
            if not (self.session and self.session.script):
                self.step(None, "this session has no test script", "retest")
                return
            self.retest = not self.retest
        self._render_plan()

    def action_toggle_squash(self) -> None:
        self._toggle("squash")

    def action_toggle_rebase(self) -> None:
        self._toggle("rebase")

    def action_toggle_retest(self) -> None:
        self._toggle("retest")

    def action_edit_message(self) -> None:
        self.query_one("#message", TextArea).focus()

    def action_edit_onto(self) -> None:
        box = self.query_one("#onto", Input)
        box.value = self.onto
        box.add_class("-visible")
        box.focus()

    @on(OptionList.OptionSelected, "#plan")
    def _plan_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == "merge":
            self.action_do_merge()
        elif event.option.id == "rebase" and self.rebase:
            self.action_edit_onto()
        elif event.option.id:
            self._toggle(event.option.id)

    @on(Input.Submitted, "#onto")
    def _onto_submitted(self, event: Input.Submitted) -> None:
        self._leave_onto()

    def _leave_onto(self) -> None:
        box = self.query_one("#onto", Input)
        base = self.session.base_branch if self.session else ""
        self.onto = box.value.strip() or base
        box.remove_class("-visible")
        self._render_plan()
        self.query_one("#plan", OptionList).focus()

    def action_close(self) -> None:
        """Escape leaves a field first (the message is kept); on the plan it closes the wizard."""
        focused = self.focused
        if isinstance(focused, Input) and focused.id == "onto":
            self._leave_onto()
            return
        if isinstance(focused, TextArea):
            self.query_one("#plan", OptionList).focus()
            return
        if self.stopped and not self.running:
            self._undo_and_close()
            return
        self.dismiss()

    @work(exclusive=True, group="review-run", exit_on_error=False)
    async def _undo_and_close(self) -> None:
        """Leaving a land stopped on failing tests undoes it: the branch is as before the review."""
        try:
            await self.ampsm.engine.review.abort(self.session_id)
        except Exception as exc:
            self.step(False, f"the review could not be undone: {exc}", "merge")
            return
        self.stopped = False
        self.dismiss()

    # -- loading ---------------------------------------------------------------------------------

    @work(exclusive=True, group="review-load", exit_on_error=False)
    async def load(self) -> None:
        store = self.ampsm.store
        session = await store.get_session(self.session_id)
        if session is None:
            self.step(False, f"no session {self.session_id}")
            return
        self.session = session
        iterations = await store.list_iterations(self.session_id)
        self.query_one("#review-title", Static).update(
            f" Review & merge · {session.name} · {session.branch} → {session.base_branch}"
        )
        self.query_one("#message", TextArea).text = commit_message(session, iterations)
        self.onto = session.base_branch
        self.retest = bool(session.script)
        self._render_plan()
        commits = sum(1 for it in iterations if it.commit_sha)
        self.step(None, f"{len(iterations)} iteration(s), {commits} commit(s) on {session.branch}")
        await self._load_diff()
        await self._show_overlaps(session)

    async def _show_overlaps(self, session: Session) -> None:
        """Before landing: other live sessions of this repo touching the same files, with the
        conflict git predicts (the same check as `ampsm land` prints)."""
        from ..engine.overlap import overlaps_of

        box = self.query_one("#review-overlaps", Static)
        try:
            found = await overlaps_of(session, await self.ampsm.store.list_sessions(repo_path=session.repo_path))
        except Exception as exc:  # a broken worktree elsewhere must not block the review
            found, box.tooltip = [], str(exc)
        box.update(Text("\n".join(f"⚠ {o.describe()}" for o in found), style="bold yellow"))
        box.display = bool(found)

    async def _load_diff(self) -> None:
        diff_view = self.query_one(DiffView)
        try:
            text = await self.ampsm.engine.sessions.diff(self.session_id, last_iteration=diff_view.last_iteration)
        except Exception as exc:
            diff_view.empty_message = f"Diff unavailable: {exc}"
            text = ""
        diff_view.show_diff(text)

    @on(DiffView.ScopeToggled)
    async def _scope(self, event: DiffView.ScopeToggled) -> None:
        self.query_one(DiffView).last_iteration = event.last_iteration
        await self._load_diff()

    def action_next_file(self) -> None:
        self.query_one(DiffView).action_next_file()

    def action_prev_file(self) -> None:
        self.query_one(DiffView).action_prev_file()

    def action_toggle_scope(self) -> None:
        self.query_one(DiffView).action_toggle_scope()

    # -- running ---------------------------------------------------------------------------------

    @work(exclusive=True, group="review-run", exit_on_error=False)
    async def action_run_tests(self) -> None:
        await self._tests()

    async def _tests(self) -> bool:
        self.step(None, "running the test script…", "retest")
        try:
            code, log = await self.ampsm.engine.sessions.run_tests(self.session_id)
        except Exception as exc:
            self.step(False, f"tests could not run: {exc}", "retest")
            return False
        if code == 0:
            self.step(True, "tests passed", "retest")
            return True
        tail = (log or "").strip().splitlines()[-1:] or [""]
        self.step(False, f"tests failed (exit {code}) {tail[0][:60]}", "retest")
        return False

    @work(exclusive=True, group="review-run", exit_on_error=False)
    async def action_do_merge(self) -> None:
        if self.session is None or self.finished or self.running:
            return
        self.running = True
        try:
            await self._run_plan(self.session)
        finally:
            self.running = False

    def _plan(self, session: Session) -> LandPlan:
        message = self.query_one("#message", TextArea).text.strip()
        return LandPlan(
            squash=self.squash,
            message=message or None,
            rebase=self.rebase,
            onto=self.onto or session.base_branch,
            retest=self.retest and bool(session.script),
        )

    def _show(self, outcome: StepOutcome) -> None:
        text = outcome.detail
        if outcome.step == "squash" and outcome.status == "skipped":
            text = "keeping the branch history"
        ok = {"done": True, "skipped": None, "failed": False, "conflict": False}[outcome.status]
        self.step(ok, text, outcome.step)

    async def _run_plan(self, session: Session) -> None:
        """One engine call (`ReviewService.land`, the same as `ampsm land`); this screen only shows
        its steps, and opens the conflict view when the land stops on one."""
        from ..engine.errors import AmpsmError, UsageError

        review = self.ampsm.engine.review
        shown = 0
        try:
            if await review.stopped(session.id):  # tests failed before: go on with the plan as it is now
                result = await review.resume(session.id, retest=self.retest and bool(session.script))
            else:
                result = await review.land(session.id, self._plan(session))
            while True:
                for outcome in result.steps[shown:]:
                    self._show(outcome)
                shown = len(result.steps)
                if result.conflict is None:
                    break
                conflict = result.conflict
                choice = await self.app.push_screen_wait(
                    ConflictScreen(self.session_id, conflict.operation, conflict.files, conflict.path)
                )
                if choice != "continued":
                    aborted = await result.abort()
                    undone = (
                        " (squash undone)"
                        if any(s.step == "squash" and s.status == "done" for s in result.steps)
                        else ""
                    )
                    key = "rebase" if conflict.operation == "rebase" else "merge"
                    self.step(
                        None, f"{conflict.operation} {aborted.status}: everything is as before the review{undone}", key
                    )
                    return
                self.step(True, f"{conflict.operation} continued after resolving", conflict.operation)
                result = await result.resume()
        except AmpsmError as exc:
            self.step(False, exc.one_line(), "merge")
            return
        except UsageError as exc:
            self.step(False, exc.message, "merge")
            return
        if result.status == "tests-failed":
            self.stopped = True
            self.step(None, "not merged: fix the tests or press t to skip them (esc undoes the review)", "merge")
            return
        self.stopped = False
        self.finished = True
        self.query_one("#review-overlaps", Static).display = False  # landed: its overlaps are the base's now
        removed = "; worktree removed" if self.ampsm.config.git.remove_worktree_after_merge else ""
        self.step(True, f"merged into {session.base_branch}{removed}", "merge")
        self.step(True, "done: esc returns")
        self.ampsm.notify(f"{session.name} merged into {session.base_branch}", title="Merge")
        from ..engine.bestof import archive_the_others

        archived = await archive_the_others(self.ampsm.engine, session.id)  # a best-of winner: as `ampsm land`
        if archived:
            self.step(True, f"archived the others (restorable): {', '.join(archived)}")
