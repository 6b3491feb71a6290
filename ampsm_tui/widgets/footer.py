"""The footer of every screen: compact (one space between keys) below 110 columns, and never cut: keys
that do not fit the width are left out from the end (screens list their important keys first; `?`
and the palette show every key), so an 80-column terminal never shows half a key ("x Cance")."""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: Below this width the footer drops the padding between keys.
COMPACT_BELOW = 110


def key_width(key: FooterKey, compact: bool) -> int:
    """Cells a key takes: its key, a space, its description, and the padding Footer gives it."""
    return cell_len(key.key_display) + 1 + cell_len(key.description) + (1 if compact else 2)


class KeyFooter(Footer):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._width = 0

    def on_mount(self) -> None:
        self._fit(self.app.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self._fit(self.app.size.width)

    def _fit(self, width: int) -> None:
        self.compact = width < COMPACT_BELOW
        if width != self._width:
            self._width = width
            self.refresh(recompose=True)

    def compose(self) -> ComposeResult:
        items = list(super().compose())
        palette = [w for w in items if isinstance(w, FooterKey) and w.has_class("-command-palette")]
        keys = [w for w in items if w not in palette]
        if not all(isinstance(w, FooterKey) for w in keys):
            yield from items  # grouped keys: leave Textual's layout alone
            return
        room = (self._width or self.app.size.width) - sum(key_width(p, self.compact) for p in palette)
        kept = []
        for key in keys:
            need = key_width(key, self.compact)  # type: ignore[arg-type]
            if need > room:
                break
            room -= need
            kept.append(key)
        self.styles.grid_size_columns = len(kept)
        yield from kept
        yield from palette
