"""The diff viewer: a file list with +/- counts and one file's diff at a time, highlighted.

Only the file on screen is highlighted (and at most `MAX_SHOWN_LINES` of it), so a branch that
touched a generated 50k-line file costs nothing until someone opens that file. `]`/`[` step
through files; `l` asks the screen for the whole branch or just the last iteration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from .. import actions
from .. import format as fmt

MAX_SHOWN_LINES = 3000
MAX_LINE_CHARS = 500


@dataclass
class FileDiff:
    path: str
    added: int = 0
    removed: int = 0
    lines: list[str] = field(default_factory=list)  # hunk lines (headers `@@` and +/-/space lines)
    binary: bool = False
    status: str = "M"  # A, D, M, R


_HEADER = re.compile(r"^diff --git a/(.*?) b/(.*)$")


def parse_unified_diff(text: str) -> list[FileDiff]:
    """Split `git diff` output into files; counts come from the +/- lines themselves."""
    files: list[FileDiff] = []
    current: FileDiff | None = None
    in_hunk = False
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            current = FileDiff(path=m.group(2))
            files.append(current)
            in_hunk = False
            continue
        if current is None:
            continue
        if line.startswith("@@"):
            in_hunk = True
            current.lines.append(line)
        elif not in_hunk:
            if line.startswith("new file mode"):
                current.status = "A"
            elif line.startswith("deleted file mode"):
                current.status = "D"
            elif line.startswith("rename to "):
                current.status = "R"
                current.path = line[len("rename to ") :]
            elif line.startswith("Binary files"):
                current.binary = True
        else:
            current.lines.append(line)
            if line.startswith("+"):
                current.added += 1
            elif line.startswith("-"):
                current.removed += 1
    return files


def highlight_file(diff: FileDiff, *, theme: str = "ansi_dark", limit: int = MAX_SHOWN_LINES) -> Text:
    """The file's hunks with language highlighting and +/- line backgrounds."""
    if diff.binary:
        return Text("Binary file changed", style="italic")
    shown = diff.lines[:limit]
    code_lines = [line[1:][:MAX_LINE_CHARS] if not line.startswith("@@") else "" for line in shown]
    from rich.syntax import Syntax  # pygments: loaded when a diff is first shown, not at startup

    lexer = Syntax.guess_lexer(diff.path, code="")
    highlighted = Syntax("\n".join(code_lines), lexer, theme=theme).highlight("\n".join(code_lines))
    code = highlighted.split("\n", allow_blank=True)
    out = Text(no_wrap=True, overflow="crop")
    for index, line in enumerate(shown):
        if line.startswith("@@"):
            out.append(line[:MAX_LINE_CHARS], style="bold cyan")
        else:
            marker = line[:1] or " "
            body = code[index] if index < len(code) else Text(line[1:])
            bg = {"+": "on #203820", "-": "on #3c1f1f"}.get(marker, "")
            mark_style = {"+": "bold green", "-": "bold red"}.get(marker, "dim")
            out.append(marker, style=mark_style)
            body.stylize(bg)
            out.append_text(body)
        out.append("\n")
    if len(diff.lines) > limit:
        out.append(f"… {len(diff.lines) - limit} more lines not shown", style="italic dim")
    return out


class DiffView(Widget, can_focus=False):
    """Posts `ScopeToggled` when the user wants the other scope; the screen loads and calls `show_diff`."""

    BINDINGS: ClassVar[list[BindingType]] = actions.bindings("diff")

    DEFAULT_CSS = """
    DiffView { layout: vertical; height: 1fr; }
    DiffView > #diff-title { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    DiffView > Horizontal { height: 1fr; }
    DiffView #diff-files { width: 34; min-width: 20; max-width: 40%; border: none; }
    DiffView #diff-scroll { width: 1fr; }
    DiffView #diff-body { width: auto; }
    """

    class ScopeToggled(Message):
        def __init__(self, last_iteration: bool) -> None:
            super().__init__()
            self.last_iteration = last_iteration

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.files: list[FileDiff] = []
        self.index = 0
        self.last_iteration = False
        self.empty_message = "No changes on this branch yet."

    def compose(self) -> ComposeResult:
        yield Static("", id="diff-title")
        with Horizontal():
            yield OptionList(id="diff-files")
            with VerticalScroll(id="diff-scroll"):
                yield Static("", id="diff-body")

    def show_diff(self, text: str, *, last_iteration: bool | None = None) -> None:
        if last_iteration is not None:
            self.last_iteration = last_iteration
        self.files = parse_unified_diff(text)
        self.index = 0
        option_list = self.query_one("#diff-files", OptionList)
        option_list.clear_options()
        option_list.add_options(
            Option(Text.assemble((f"+{f.added}", "green"), " ", (f"-{f.removed}", "red"), f" {f.path}"), id=str(n))
            for n, f in enumerate(self.files)
        )
        if self.files:
            option_list.highlighted = 0
        self._show_current()

    @property
    def current(self) -> FileDiff | None:
        return self.files[self.index] if 0 <= self.index < len(self.files) else None

    def _show_current(self) -> None:
        scope = "last iteration" if self.last_iteration else "whole branch"
        title = self.query_one("#diff-title", Static)
        body = self.query_one("#diff-body", Static)
        current = self.current
        if current is None:
            title.update(f"Diff ({scope})  ·  l: toggle scope")
            body.update(Text(self.empty_message, style="italic"))
            return
        added = sum(f.added for f in self.files)
        removed = sum(f.removed for f in self.files)
        title.update(
            Text.assemble(
                (current.path, "bold"),
                "  ",
                (f"+{current.added}", "green"),
                " ",
                (f"-{current.removed}", "red"),
                f"  ·  file {self.index + 1}/{len(self.files)}  ·  {scope} "
                f"{fmt.plural(len(self.files), 'file')} +{added} -{removed}  ·  ]/[ files  l scope",
            )
        )
        body.update(highlight_file(current))
        self.query_one("#diff-scroll", VerticalScroll).scroll_home(animate=False)

    def select(self, index: int) -> None:
        if not self.files:
            return
        self.index = index % len(self.files)
        self.query_one("#diff-files", OptionList).highlighted = self.index
        self._show_current()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option_index != self.index:
            self.index = event.option_index
            self._show_current()

    def action_next_file(self) -> None:
        self.select(self.index + 1)

    def action_prev_file(self) -> None:
        self.select(self.index - 1)

    def action_toggle_scope(self) -> None:
        self.post_message(self.ScopeToggled(not self.last_iteration))
