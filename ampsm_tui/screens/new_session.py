"""The new-session form: repo (with path completion), name, prompt, script, agent, model, timeout,
and best-of (agents a,b and N: the same engine call as `ampsm new --agents a,b --n N`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, TextArea

from .. import actions
from ..engine.agents.registry import AGENT_NAMES
from ..ui_state import UiState, default_repo
from ..widgets.footer import KeyFooter
from ..widgets.path_suggester import DirectorySuggester

AGENTS = AGENT_NAMES  # the adapter registry's list


@dataclass
class NewSessionRequest:
    repo: str
    name: str
    prompt: str
    script: str | None
    agent: str
    agent_cmd: str | None
    model: str | None
    timeout_s: float | None
    base: str | None
    run_now: bool
    #: best-of: one session per agent and k in 1..n, their first turns in parallel, then ranked
    agents: list[str] = field(default_factory=list)
    n: int = 1

    @property
    def best_of(self) -> bool:
        return bool(self.agents)

    def best_of_kwargs(self) -> dict[str, Any]:
        """`run_best_of`'s arguments: `agent` gives way to `agents` (the command only goes to `command`)."""
        kwargs = self.create_kwargs()
        del kwargs["agent"]
        return {**kwargs, "agents": self.agents, "n": self.n}

    def create_kwargs(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "name": self.name,
            "prompt": self.prompt,
            "script": self.script,
            "agent": self.agent,
            "agent_cmd": self.agent_cmd,
            "model": self.model,
            "timeout_s": self.timeout_s,
            "base": self.base,
        }


class NewSessionScreen(ModalScreen[NewSessionRequest | None]):
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings(
        "form", only=("close", "submit", "next_field", "prev_field")
    )

    def __init__(self, *, repo: str | None = None) -> None:
        super().__init__()
        self._repo_arg = repo
        self.initial_repo = repo or ""

    def _state(self) -> UiState | None:
        return getattr(self.app, "ui_state", None)

    def _input(self, id: str, placeholder: str, value: str = "", **kwargs: Any) -> Input:
        # No select-on-focus: walking back with shift+tab and typing must not wipe the field.
        box = Input(value, placeholder=placeholder, id=id, select_on_focus=False, **kwargs)
        box.cursor_blink = getattr(self.app, "cursor_blink", True)
        return box

    def compose(self) -> ComposeResult:
        if self._repo_arg is None:
            self.initial_repo = default_repo(self._state())
        with VerticalScroll(classes="dialog form", id="new-session"):
            yield Label("New session", classes="dialog-title")
            yield Label("Repository")
            yield self._input("repo", "path to a git repository", self.initial_repo, suggester=DirectorySuggester())
            yield Label("Name")
            yield self._input("name", "e.g. fix-login-bug")
            yield Label("Prompt")
            prompt = TextArea("", id="prompt", soft_wrap=True, placeholder="What should the agent do?")
            prompt.cursor_blink = getattr(self.app, "cursor_blink", True)
            yield prompt
            yield Label("Test script (quality gate, optional)")
            yield self._input("script", "e.g. pytest -q")
            with Horizontal(classes="row"):
                yield Select([(a, a) for a in AGENTS], value="amp", allow_blank=False, id="agent")
                yield self._input("model", "model / mode (optional)")
                yield self._input("timeout", "timeout s", type="number")
            yield self._input("agent_cmd", "command to run (agent = command)")
            with Horizontal(classes="row"):
                yield self._input("agents", "best-of: agents a,b (optional; N alone: the agent above)")
                yield self._input("n", "N", type="integer")
            yield self._input("base", "base branch (default: the repo's default)")
            yield Checkbox("Start the first iteration now", value=True, id="run_now")
            yield Label("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Create (ctrl+s)", variant="primary", id="create")
                yield Button("Cancel (esc)", id="cancel")
        yield KeyFooter()

    def on_mount(self) -> None:
        # On a short terminal (80x24 over SSH) bordered fields leave room for three of them only.
        if self.app.size.height < 34:
            self.add_class("-compact")
            for widget in self.query("Input, Select, Button"):
                widget.compact = True  # type: ignore[attr-defined]
        self.query_one("#name" if self.initial_repo else "#repo", Input).focus()

    def action_next_field(self) -> None:
        self.focus_next()

    def action_prev_field(self) -> None:
        self.focus_previous()

    def _value(self, id: str) -> str:
        return self.query_one(f"#{id}", Input).value.strip()

    def build_request(self) -> NewSessionRequest | str:
        """The request, or the first problem as a sentence."""
        repo = os.path.expanduser(self._value("repo"))
        if not repo:
            return "Give the repository path."
        if not Path(repo).is_dir():
            return f"{repo} is not a directory."
        name = self._value("name")
        if not name:
            return "Give the session a name."
        agent = str(self.query_one("#agent", Select).value)
        agent_cmd = self._value("agent_cmd") or None
        agents = [a.strip() for a in self._value("agents").split(",") if a.strip()]
        unknown = [a for a in agents if a not in AGENTS]
        if unknown:
            return f"Unknown agent {unknown[0]!r} in best-of (known: {', '.join(AGENTS)})."
        try:
            n = int(self._value("n") or 0)
        except ValueError:
            return "N is a whole number."
        if self._value("n") and n < 1:
            return "N is 1 or more."
        if n and not agents:
            agents = [agent]  # N alone: best-of the agent chosen above, as `--n` without `--agents`
        if "command" in (agents or [agent]) and not agent_cmd:
            return "The command agent needs a command to run."
        timeout = self._value("timeout")
        try:
            timeout_s = float(timeout) if timeout else None
        except ValueError:
            return "The timeout is a number of seconds."
        return NewSessionRequest(
            repo=repo,
            name=name,
            prompt=self.query_one("#prompt", TextArea).text.strip(),
            script=self._value("script") or None,
            agent=agent,
            agent_cmd=agent_cmd,
            model=self._value("model") or None,
            timeout_s=timeout_s,
            base=self._value("base") or None,
            run_now=self.query_one("#run_now", Checkbox).value,
            agents=agents,
            n=n or 1,
        )

    def action_submit(self) -> None:
        request = self.build_request()
        if isinstance(request, str):
            self.query_one("#form-error", Label).update(request)
            return
        state = self._state()
        if state is not None:
            state.set("last_repo", str(Path(request.repo).resolve()))
        self.dismiss(request)

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#create")
    def _create(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
