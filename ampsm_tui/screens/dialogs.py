"""Small modal dialogs that return a value: confirm (bool) and a follow-up prompt (str | None)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, TextArea

from .. import actions
from ..widgets.footer import KeyFooter


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings("dialog")
    CONTEXTS = ("dialog",)

    def __init__(self, question: str, *, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button(f"{self.no} (n)", id="no")
        yield KeyFooter()

    def action_confirm_yes(self) -> None:
        self.dismiss(True)

    def action_confirm_no(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class PromptScreen(ModalScreen[str | None]):
    """A multi-line prompt; ctrl+s submits (empty means "no follow-up"), escape cancels (None)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *actions.bindings("form", only=("close", "submit", "next_field", "prev_field")),
    ]

    def __init__(self, title: str, *, placeholder: str = "", initial: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.initial = initial

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            area = TextArea(self.initial, id="prompt", placeholder=self.placeholder, soft_wrap=True)
            area.cursor_blink = getattr(self.app, "cursor_blink", True)
            yield area
            with Horizontal(classes="buttons"):
                yield Button("Run (ctrl+s)", variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#prompt", TextArea).focus()

    def action_submit(self) -> None:
        self.dismiss(self.query_one("#prompt", TextArea).text)

    def action_next_field(self) -> None:
        self.focus_next()

    def action_prev_field(self) -> None:
        self.focus_previous()

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
