"""Vim and lazygit movement (j/k, g/G, Home/End, ctrl+d/ctrl+u) for whatever list or text has the focus.

One mixin for every screen, bound through the actions registry (`nav` context), so the keys are the
same in the sessions list, the diff, the help, the logs and the monitors. A table or option list
moves its cursor; anything else that scrolls (a log, a diff body, the help) scrolls. A screen
chooses what moves when nothing focusable is focused with `nav_target()`.
"""

from __future__ import annotations

from typing import Any

from textual.widget import Widget
from textual.widgets import DataTable, OptionList


def _scrollable(widget: Widget | None) -> Widget | None:
    """The widget itself when it scrolls, else its nearest scrolling ancestor."""
    node: Any = widget
    while node is not None and isinstance(node, Widget):
        if node.allow_vertical_scroll or isinstance(node, DataTable | OptionList):
            return node
        node = node.parent
    return widget


class NavMixin:
    """Screens mix this in and add `actions.bindings("nav")` to their BINDINGS."""

    def nav_target(self) -> Widget | None:
        focused = getattr(self, "focused", None)
        return _scrollable(focused)

    def _half(self, target: Widget) -> int:
        return max(1, target.scrollable_content_region.height // 2)

    def action_nav_down(self) -> None:
        self._step(1)

    def action_nav_up(self) -> None:
        self._step(-1)

    def action_nav_page_down(self) -> None:
        target = self.nav_target()
        if target is not None:
            self._step(self._half(target))

    def action_nav_page_up(self) -> None:
        target = self.nav_target()
        if target is not None:
            self._step(-self._half(target))

    def _step(self, rows: int) -> None:
        target = self.nav_target()
        if isinstance(target, DataTable):
            if target.row_count:
                target.move_cursor(row=max(0, min(target.row_count - 1, target.cursor_row + rows)))
        elif isinstance(target, OptionList):
            if target.option_count:
                current = target.highlighted if target.highlighted is not None else 0
                target.highlighted = max(0, min(target.option_count - 1, current + rows))
        elif target is not None:
            target.scroll_relative(y=rows, animate=False, immediate=True)

    def action_nav_top(self) -> None:
        target = self.nav_target()
        if isinstance(target, DataTable):
            if target.row_count:
                target.move_cursor(row=0)
        elif isinstance(target, OptionList):
            if target.option_count:
                target.highlighted = 0
        elif target is not None:
            target.scroll_home(animate=False, immediate=True)

    def action_nav_bottom(self) -> None:
        target = self.nav_target()
        if isinstance(target, DataTable):
            if target.row_count:
                target.move_cursor(row=target.row_count - 1)
        elif isinstance(target, OptionList):
            if target.option_count:
                target.highlighted = target.option_count - 1
        elif target is not None:
            follow = getattr(target, "action_follow", None)
            if follow is not None:
                follow()  # a log: the end, and follow new output from there
            else:
                target.scroll_end(animate=False, immediate=True)
