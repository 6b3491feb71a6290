"""The Textual application (placeholder until the TUI issue lands)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static


class AmpsmApp(App[None]):
    TITLE = "ampsm"
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("ampsm: the dashboard arrives with the TUI issue. Press q to quit.")
        yield Footer()


def run_app() -> int:
    AmpsmApp().run()
    return 0
