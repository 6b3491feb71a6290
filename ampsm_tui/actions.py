"""The one registry of user actions.

The footer (via `bindings()`), the `?` help screen, the command palette and the README's key table
(`key_table_markdown()`) all read this tuple, so a key can never be documented in one place and
bound differently in another. Keys use Textual's key names; several keys are comma-separated.
Every binding carries its action id, so the user's `ui.keymap` (action id -> keys) rebinds it
through Textual's keymap; `display_keys(action, keymap)` is what the help and palette show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.binding import BindingType

#: Where an action applies, in the order the help screen lists them.
CONTEXTS: dict[str, str] = {
    "app": "Everywhere",
    "dashboard": "Dashboard",
    "nav": "Lists, diff, help and logs",
    "output": "Output pane",
    "diff": "Diff viewer",
    "review": "Review & merge wizard",
    "conflict": "Conflict view",
    "chat": "Chat",
    "monitor": "Batch and bench monitors",
    "form": "Forms and dialogs",
    "dialog": "Yes/no questions",
}


@dataclass(frozen=True)
class Action:
    id: str
    keys: str
    description: str
    help: str
    context: str
    footer: bool = True  # shown in the footer (the help screen and palette show every action)
    palette: bool = True
    priority: bool = False
    key_display: str | None = None

    @property
    def first_key(self) -> str:
        return self.keys.split(",")[0]

    @property
    def display_keys(self) -> str:
        return self.key_display or " / ".join(_pretty(k) for k in self.keys.split(","))


def _pretty(key: str) -> str:
    names = {"question_mark": "?", "slash": "/", "right_square_bracket": "]", "left_square_bracket": "["}
    return names.get(key, key)


ACTIONS: tuple[Action, ...] = (
    # everywhere
    Action("quit", "q", "Quit", "Quit ampsm (asks first while iterations are running)", "app"),
    Action("help", "question_mark", "Help", "Show every key and what it does", "app", key_display="?"),
    Action("command_palette", "ctrl+p", "Palette", "Search and run any action", "app", footer=False, palette=False),
    Action("batches", "b", "Batches", "Open the batch monitor", "app"),
    Action("bench", "B", "Bench", "Open the SWE-bench runs: leaderboard and instances", "app", footer=False),
    # Textual lists its own "Theme" command in the palette: this one is for the key and the help only.
    Action(
        "change_theme",
        "ctrl+t",
        "Theme",
        "Pick a theme (gruvbox by default; saved)",
        "app",
        footer=False,
        palette=False,
    ),
    # dashboard
    Action("new_session", "n", "New", "Create a session: repo, name, prompt, script, agent, model", "dashboard"),
    Action("open_session", "enter", "Open", "Open the selected session's detail screen", "dashboard"),
    Action("iterate", "i", "Iterate", "Run another iteration, with an optional follow-up prompt", "dashboard"),
    Action("chat", "c", "Chat", "Multi-turn chat that continues the agent's thread", "dashboard"),
    Action("diff", "d", "Diff", "Show the session's diff against its base branch", "dashboard"),
    Action("review", "m", "Merge", "Review & merge wizard: squash, rebase, test, merge", "dashboard"),
    Action("cancel", "x", "Cancel", "Cancel the running iteration of the selected session", "dashboard"),
    Action("archive", "a", "Archive", "Archive the session (unmerged work is kept under a ref)", "dashboard"),
    Action("filter", "slash", "Filter", "Filter sessions by text or status (status:running)", "dashboard"),
    Action("cycle_sort", "s", "Sort", "Cycle the sort column of the sessions list", "dashboard", footer=False),
    Action("focus_next_pane", "tab", "Pane", "Move focus to the next pane", "dashboard", footer=False),
    Action("refresh", "r", "Refresh", "Reload from the database", "dashboard", footer=False),
    Action(
        "best_of",
        "w",
        "Best-of",
        "Best-of candidates of the selected session side by side, the winner starred; land one from there",
        "dashboard",
        footer=False,
    ),
    Action(
        "queue_add",
        "u",
        "Queue",
        "Queue the selected session to land (merge queue: one at a time, rebased, test gate re-run)",
        "dashboard",
        footer=False,
    ),
    Action(
        "merge_queue",
        "Q",
        "Merge queue",
        "Open the merge queue, live: state, why one was taken out",
        "dashboard",
        footer=False,
    ),
    Action("tab_diff", "1", "Diff tab", "Show the Diff tab of the selected session", "dashboard", footer=False),
    Action("tab_timeline", "2", "Timeline tab", "Show the Timeline tab (iterations)", "dashboard", footer=False),
    Action("tab_metrics", "3", "Metrics tab", "Show the Metrics tab (tokens, cost, tests)", "dashboard", footer=False),
    # vim / lazygit movement in whatever list or text has the focus
    Action("nav_down", "j", "Down", "Next row or line (also the down arrow)", "nav", footer=False, palette=False),
    Action("nav_up", "k", "Up", "Previous row or line (also the up arrow)", "nav", footer=False, palette=False),
    Action("nav_top", "g,home", "Top", "First row, or the top", "nav", footer=False, palette=False),
    Action(
        "nav_bottom",
        "G,end",
        "Bottom",
        "Last row, or the end (in a log: follow new output)",
        "nav",
        footer=False,
        palette=False,
    ),
    Action("nav_page_down", "ctrl+d", "Half page down", "Half a page down", "nav", footer=False, palette=False),
    Action("nav_page_up", "ctrl+u", "Half page up", "Half a page up", "nav", footer=False, palette=False),
    # output pane
    Action("toggle_details", "e", "Expand", "Expand or fold tool calls and thinking", "output"),
    Action("follow", "f", "Follow", "Jump to the end and follow new output", "output", footer=False),
    # diff viewer
    Action("next_file", "right_square_bracket", "Next file", "Show the next file of the diff", "diff"),
    Action("prev_file", "left_square_bracket", "Prev file", "Show the previous file of the diff", "diff"),
    Action("toggle_scope", "l", "Branch/last", "Toggle whole branch vs the last iteration", "diff"),
    Action("close", "escape", "Back", "Close this screen", "form"),
    # Priority: a key pressed right after typing (tmux send-keys, a fast typist, a paste) is already
    # queued for the focused field before a non-priority binding could move the focus.
    Action(
        "next_field",
        "tab",
        "Next field",
        "Next field of a form (also leaves the prompt editor)",
        "form",
        footer=False,
        priority=True,
    ),
    Action("prev_field", "shift+tab", "Prev field", "Previous field of a form", "form", footer=False, priority=True),
    # review wizard (the letters act on the plan; while typing in the message they type)
    Action("do_merge", "ctrl+g", "Merge", "Run the plan: squash/keep, rebase, re-run tests, merge", "review"),
    Action("toggle_squash", "s", "Squash", "Plan: squash into one commit, or keep the branch history", "review"),
    Action("toggle_rebase", "r", "Rebase", "Plan: rebase onto the base branch first, or not", "review"),
    Action("toggle_retest", "t", "Retest", "Plan: re-run the test script before merging, or not", "review"),
    Action("edit_message", "e", "Message", "Edit the commit message (escape returns to the plan)", "review"),
    Action("edit_onto", "o", "Onto", "Change the branch to rebase onto (enter or escape returns)", "review"),
    Action("run_tests", "ctrl+r", "Test now", "Re-run the session's test script now", "review", footer=False),
    # conflict view
    Action("open_editor", "o", "Edit", "Open the selected file in $EDITOR (the app is suspended)", "conflict"),
    Action("mark_resolved", "r", "Resolved", "Mark the selected file resolved (git add)", "conflict"),
    Action("continue_op", "c", "Continue", "Continue the rebase/merge after resolving", "conflict"),
    Action("abort_op", "a", "Abort", "Abort: leave the repository exactly as before", "conflict"),
    # chat
    Action("send", "ctrl+s", "Send", "Send the message (continues the agent's thread)", "chat"),
    Action("submit", "ctrl+s", "Submit", "Submit the form (from any field, the prompt editor too)", "form"),
    Action("close_help", "q,question_mark", "Close", "Close the help (escape too)", "form", footer=False),
    # batch and bench monitors (priority: the focused table's own hidden enter would hide it from the footer)
    Action("open_item", "enter", "Open", "Open the highlighted item's session", "monitor", priority=True),
    # yes/no questions
    Action("confirm_yes", "y", "Yes", "Answer yes", "dialog"),
    Action("confirm_no", "n,escape", "No", "Answer no (escape too)", "dialog"),
)

_BY_ID = {a.id: a for a in ACTIONS}


def by_id(action_id: str) -> Action:
    return _BY_ID[action_id]


def display_keys(action: Action, keymap: Mapping[str, str] | None = None) -> str:
    """The keys shown for `action`: the user's keymap override, else the registry's."""
    override = (keymap or {}).get(action.id)
    if override:
        return " / ".join(_pretty(k.strip()) for k in override.split(",") if k.strip())
    return action.display_keys


def in_context(*contexts: str) -> list[Action]:
    return [a for a in ACTIONS if a.context in contexts]


def bindings(*contexts: str, only: tuple[str, ...] | None = None, namespace: str = "") -> list[BindingType]:
    """Textual bindings for the actions of `contexts` (each with an id, for user keymaps).

    `namespace="app."` lets a screen repeat app actions first in its own bindings, so the footer
    shows them first (at 80 columns the tail of the footer is cut)."""
    from textual.binding import Binding

    out: list[BindingType] = []
    for action in in_context(*contexts):
        if only is not None and action.id not in only:
            continue
        out.append(
            Binding(
                action.keys,
                namespace + action.id,
                action.description,
                show=action.footer,
                key_display=action.key_display,
                priority=action.priority,
                tooltip=action.help,
                id=action.id,
            )
        )
    return out


def key_table_markdown() -> str:
    """The README's key table, generated so it cannot drift from the bindings."""
    rows = ["| Where | Key | Action |", "|---|---|---|"]
    for context, title in CONTEXTS.items():
        for action in in_context(context):
            rows.append(f"| {title} | `{action.display_keys}` | {action.help} |")
    return "\n".join(rows) + "\n"
