"""The conflict view: the conflicting files of a rebase or merge; open one in $EDITOR (the app is
suspended), mark it resolved, then continue, or abort, which leaves everything as it was before."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, OptionList, Static
from textual.widgets.option_list import Option

from .. import actions
from .. import format as fmt
from ..widgets.footer import KeyFooter
from ..widgets.nav import NavMixin

if TYPE_CHECKING:
    from ..app import AmpsmApp

Outcome = Literal["continued", "aborted", "conflict"]


class ConflictScreen(NavMixin, ModalScreen[Outcome]):
    """Dismissed with "continued" (the operation finished) or "aborted" (nothing changed)."""

    BINDINGS: ClassVar[list[BindingType]] = [*actions.bindings("conflict"), *actions.bindings("nav")]
    CONTEXTS = ("conflict", "nav")

    def __init__(self, session_id: str, operation: str, files: list[str], workdir: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.operation = operation
        self.files = list(files)
        self.workdir = workdir
        self.resolved: set[str] = set()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="conflict"):
            yield Label(f"Conflict during {self.operation}", classes="dialog-title error")
            yield Static(
                f"{fmt.plural(len(self.files), 'file')} conflict in {self.workdir}. o edits, r marks resolved, "
                "c continues, a aborts (the repository is left exactly as before).",
                id="conflict-help",
            )
            yield OptionList(id="conflict-files")
            yield Static("", id="conflict-status")
            with Horizontal(classes="buttons"):
                yield Button("Continue (c)", variant="primary", id="continue")
                yield Button("Abort (a)", variant="error", id="abort")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._render_files()
        self.query_one("#conflict-files", OptionList).focus()

    def _render_files(self) -> None:
        files = self.query_one("#conflict-files", OptionList)
        highlighted = files.highlighted or 0
        files.clear_options()
        for path in self.files:
            done = path in self.resolved
            label = Text.assemble(("✓ " if done else "✗ ", "green" if done else "red"), path)
            files.add_option(Option(label, id=path))
        if self.files:
            files.highlighted = min(highlighted, len(self.files) - 1)

    @property
    def current(self) -> str | None:
        files = self.query_one("#conflict-files", OptionList)
        index = files.highlighted
        return self.files[index] if index is not None and 0 <= index < len(self.files) else None

    def action_open_editor(self) -> None:
        path = self.current
        if path is None:
            return
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        with self.app.suspend():
            subprocess.run([*shlex.split(editor), str(Path(self.workdir) / path)], check=False)
        self.refresh()

    @work(exclusive=True, group="conflict-git", exit_on_error=False)
    async def action_mark_resolved(self) -> None:
        """The engine stages it under the repo lock (and refuses a file still holding markers)."""
        from ..engine.errors import AmpsmError, UsageError

        path = self.current
        if path is None:
            return
        app: AmpsmApp = self.app  # type: ignore[assignment]
        status = self.query_one("#conflict-status", Static)
        try:
            await app.engine.sessions.mark_resolved(self.session_id, path)
        except (AmpsmError, UsageError) as exc:
            status.update(Text(str(getattr(exc, "message", exc)), style="red"))
            return
        status.update(Text(f"{path} marked resolved.", style="green"))
        self.resolved.add(path)
        self._render_files()

    @work(exclusive=True, group="conflict-git", exit_on_error=False)
    async def action_continue_op(self) -> None:
        app: AmpsmApp = self.app  # type: ignore[assignment]
        status = self.query_one("#conflict-status", Static)
        try:
            result = await app.engine.sessions.continue_operation(self.session_id)
        except Exception as exc:
            status.update(Text(f"Cannot continue: {exc}", style="red"))
            return
        conflicts = list(getattr(result, "conflicts", None) or [])
        if result is not None and not getattr(result, "ok", True):
            if conflicts:
                self.files = conflicts
                self.resolved.clear()
                self._render_files()
            names = ", ".join(conflicts) or "some files"
            message = (
                f"Not continued: {names} still {'has' if len(conflicts) == 1 else 'have'} conflict markers"
                " (<<<<<<<). o edits, r marks resolved, then c."
            )
            status.update(Text(message, style="bold red"))
            self.notify(message, title="Conflict", severity="warning", timeout=6)
            return
        self.dismiss("continued")

    @work(exclusive=True, group="conflict-git", exit_on_error=False)
    async def action_abort_op(self) -> None:
        app: AmpsmApp = self.app  # type: ignore[assignment]
        try:
            await app.engine.sessions.abort_operation(self.session_id)
        except Exception as exc:
            self.query_one("#conflict-status", Static).update(Text(f"Abort failed: {exc}", style="red"))
            return
        self.dismiss("aborted")

    @on(Button.Pressed, "#continue")
    def _continue(self) -> None:
        self.action_continue_op()

    @on(Button.Pressed, "#abort")
    def _abort(self) -> None:
        self.action_abort_op()
