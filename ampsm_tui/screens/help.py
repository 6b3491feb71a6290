"""The `?` help screen, generated from the actions registry (so it always matches the bindings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Static

from .. import actions
from ..widgets.footer import KeyFooter
from ..widgets.nav import NavMixin


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


class HelpScreen(NavMixin, ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *actions.bindings("form", only=("close", "close_help")),
        *actions.bindings("nav"),
    ]
    CONTEXTS = ("nav",)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help", id="help"):
            yield Static(
                "Keys  ·  j/k scroll  ·  escape closes  ·  ctrl+p searches every action", classes="dialog-title"
            )
            yield Static(help_table(getattr(self.app, "user_keymap", None)))
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#help").focus()

    def nav_target(self) -> Widget | None:
        return self.query_one("#help", VerticalScroll)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_close_help(self) -> None:
        self.dismiss(None)
