"""The review & merge wizard (`m`): the branch's combined diff, a commit message pre-filled from
the iterations, squash or keep history, rebase onto (the base branch by default), re-run the
tests, merge. Every step writes its outcome; a conflict opens the conflict view."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, Label, RadioButton, RadioSet, Static, TextArea

from .. import actions
from ..engine.messages import squash_message
from ..engine.models import Iteration, Session
from ..widgets.diff_view import DiffView
from .conflict import ConflictScreen

if TYPE_CHECKING:
    from ..app import AmpsmApp


def commit_message(session: Session, iterations: list[Iteration]) -> str:
    """The wizard's pre-filled message: the engine's, so the CLI's default squash message matches."""
    return squash_message(session, iterations)


class ReviewScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *actions.bindings("form", only=("close",)),
        *actions.bindings("review"),
        *actions.bindings("diff", only=("next_file", "prev_file")),
    ]
    CONTEXTS = ("review", "diff")

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.session: Session | None = None
        self.finished = False

    @property
    def ampsm(self) -> AmpsmApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(" Review & merge", id="review-title", classes="screen-title")
        with Horizontal(id="review-main"):
            yield DiffView(id="review-diff")
            with VerticalScroll(id="review-side"):
                yield Label("Commit message")
                message = TextArea("", id="message", soft_wrap=True)
                message.cursor_blink = self.ampsm.cursor_blink
                yield message
                with RadioSet(id="mode"):
                    yield RadioButton("Squash into one commit", value=True, id="squash")
                    yield RadioButton("Keep history", id="keep")
                yield Checkbox("Rebase onto", value=True, id="rebase")
                onto = Input("", placeholder="base branch", id="onto")
                onto.cursor_blink = self.ampsm.cursor_blink
                yield onto
                yield Checkbox("Re-run the test script first", value=True, id="retest")
                with Horizontal(classes="buttons"):
                    yield Button("Merge (ctrl+g)", variant="primary", id="merge")
                    yield Button("Test (ctrl+r)", id="test")
        with Vertical(id="review-steps-pane"):
            yield Static("", id="review-steps")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#review-steps-pane").border_title = "Steps"
        self.steps: list[Text] = []
        self.load()

    def step(self, ok: bool | None, text: str) -> None:
        mark, style = {True: ("✓", "green"), False: ("✗", "red"), None: ("·", "")}[ok]
        self.steps.append(Text.assemble((mark + " ", style), text))
        self.query_one("#review-steps", Static).update(Text("\n").join(self.steps[-6:]))

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
        self.query_one("#onto", Input).value = session.base_branch
        retest = self.query_one("#retest", Checkbox)
        retest.value = bool(session.script)
        retest.disabled = not session.script
        commits = sum(1 for it in iterations if it.commit_sha)
        self.step(None, f"{len(iterations)} iteration(s), {commits} commit(s) on {session.branch}")
        diff_view = self.query_one(DiffView)
        try:
            diff_view.show_diff(await self.ampsm.engine.sessions.diff(self.session_id))
        except Exception as exc:
            diff_view.empty_message = f"Diff unavailable: {exc}"
            diff_view.show_diff("")

    def action_close(self) -> None:
        self.dismiss()

    def action_next_file(self) -> None:
        self.query_one(DiffView).action_next_file()

    def action_prev_file(self) -> None:
        self.query_one(DiffView).action_prev_file()

    @on(Button.Pressed, "#merge")
    def _merge_pressed(self) -> None:
        self.action_do_merge()

    @on(Button.Pressed, "#test")
    def _test_pressed(self) -> None:
        self.action_run_tests()

    @work(exclusive=True, group="review-run", exit_on_error=False)
    async def action_run_tests(self) -> None:
        await self._tests()

    async def _tests(self) -> bool:
        self.step(None, "running the test script…")
        try:
            code, log = await self.ampsm.engine.sessions.run_tests(self.session_id)
        except Exception as exc:
            self.step(False, f"tests could not run: {exc}")
            return False
        if code == 0:
            self.step(True, "tests passed")
            return True
        tail = (log or "").strip().splitlines()[-1:] or [""]
        self.step(False, f"tests failed (exit {code}) {tail[0][:60]}")
        return False

    async def _resolve(self, result: Any, operation: str, workdir: str) -> bool:
        """True when the operation ended well (directly or after the conflict view)."""
        if result is None or getattr(result, "ok", True):
            return True
        files = list(getattr(result, "conflicts", None) or [])
        if not files:
            detail = getattr(result, "stderr", "") or getattr(result, "message", "") or str(result)
            self.step(False, f"{operation} failed: {str(detail).strip()[:80]}")
            return False
        self.step(False, f"{operation} conflict in {', '.join(files)}")
        where = str(getattr(result, "path", None) or workdir)
        outcome = await self.app.push_screen_wait(ConflictScreen(self.session_id, operation, files, where))
        if outcome == "continued":
            self.step(True, f"{operation} continued after resolving")
            return True
        self.step(None, f"{operation} aborted: the repository is as before")
        return False

    @work(exclusive=True, group="review-run", exit_on_error=False)
    async def action_do_merge(self) -> None:
        from ..engine.errors import AmpsmError, UsageError

        session = self.session
        if session is None or self.finished:
            return
        sessions = self.ampsm.engine.sessions
        squash = self.query_one("#squash", RadioButton).value
        message = self.query_one("#message", TextArea).text.strip()
        try:
            if squash:
                sha = await sessions.squash(self.session_id, message)
                self.step(True, f"squashed into {str(sha)[:8]}")
            else:
                self.step(None, "keeping the branch history")
            if self.query_one("#rebase", Checkbox).value:
                onto = self.query_one("#onto", Input).value.strip() or session.base_branch
                result = await sessions.rebase(self.session_id, onto, keep_conflict=True)
                if not await self._resolve(result, "rebase", session.worktree_path):
                    return
                self.step(True, f"rebased onto {onto}")
            if self.query_one("#retest", Checkbox).value and session.script and not await self._tests():
                self.step(None, "merge not done: fix the tests or untick the re-run")
                return
            result = await sessions.merge(self.session_id, keep_conflict=True)
            if not await self._resolve(result, "merge", session.repo_path):
                return
        except AmpsmError as exc:
            self.step(False, exc.one_line())
            return
        except UsageError as exc:
            self.step(False, exc.message)
            return
        self.finished = True
        removed = "; worktree removed" if self.ampsm.config.git.remove_worktree_after_merge else ""
        self.step(True, f"merged into {session.base_branch}{removed}. esc returns")
        self.ampsm.notify(f"{session.name} merged into {session.base_branch}", title="Merge")
