"""The footer of every screen: compact (one space between keys) below 110 columns, so an 80-column
terminal over SSH still shows the screen's important keys; screens list those first."""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

#: Below this width the footer drops the padding between keys.
COMPACT_BELOW = 110


class KeyFooter(Footer):
    def on_mount(self) -> None:
        self._fit(self.app.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self._fit(self.app.size.width)

    def _fit(self, width: int) -> None:
        self.compact = width < COMPACT_BELOW
