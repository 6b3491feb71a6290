"""The `?` help screen, generated from the actions registry (so it always matches the bindings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .. import actions


def help_table(keymap: Mapping[str, str] | None = None) -> Table:
    """Every action by context, with the user's keymap applied."""
    table = Table(box=None, show_header=False, pad_edge=False, expand=True)
    table.add_column("key", style="bold", no_wrap=True, width=14)
    table.add_column("action", ratio=1)
    for context, title in actions.CONTEXTS.items():
        items = actions.in_context(context)
        if not items:
            continue
        table.add_row(f"[b reverse] {title} [/]", "")
        for action in items:
            table.add_row(actions.display_keys(action, keymap), action.help)
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        ("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help", id="help"):
            yield Static("Keys  ·  escape closes  ·  ctrl+p searches every action", classes="dialog-title")
            yield Static(help_table(getattr(self.app, "user_keymap", None)))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
