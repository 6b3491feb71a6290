"""Multi-turn chat (`c`): each message is one iteration that continues the agent's thread; the
conversation (your messages and the agent's output) is shown above the editor."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.widgets import Static, TextArea

from .. import actions
from ..live_tail import history_lines
from ..messages import EngineEventMessage
from ..widgets.footer import KeyFooter
from ..widgets.nav import NavMixin
from ..widgets.output_log import OutputLog

if TYPE_CHECKING:
    from ..app import AmpsmApp


class ChatScreen(NavMixin, Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *actions.bindings("form", only=("close",)),
        *actions.bindings("chat"),
        *actions.bindings("output"),
        *actions.bindings("nav"),
    ]
    CONTEXTS = ("chat", "output", "nav")

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self._log = OutputLog(id="chat-log")
        self._attached = False

    @property
    def ampsm(self) -> AmpsmApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("", id="chat-title", classes="screen-title")
        self._log.max_lines = self.ampsm.output_max_lines
        yield self._log
        editor = TextArea("", id="chat-input", soft_wrap=True, placeholder="Message (ctrl+s sends, esc leaves)")
        editor.cursor_blink = self.ampsm.cursor_blink
        yield editor
        yield Static("", id="chat-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#chat-input", TextArea).focus()
        self.load()

    @work(exclusive=True, group="chat-load", exit_on_error=False)
    async def load(self) -> None:
        """The title (agent, thread) on every change; the history once, then the live transcript."""
        session = await self.ampsm.store.get_session(self.session_id)
        if session is None:
            return
        thread = f" · thread {session.thread_id}" if session.thread_id else " · new thread"
        self.query_one("#chat-title", Static).update(f" Chat · {session.name} · {session.agent}{thread}")
        if not self._attached:
            # marked attached only once fed (no await between): a reload that cancels the read
            # reads the history again
            iterations = await self.ampsm.store.list_iterations(self.session_id)
            seen = self.ampsm.transcripts.iterations_seen(self.session_id)
            for kind, text in history_lines(iterations, {}, seen):
                self._log.feed_line(kind, text)
            self.ampsm.transcripts.attach(self.session_id, self._log)
            self._attached = True
        self._update_status()

    def _update_status(self) -> None:
        busy = any(w.group == f"iterate:{self.session_id}" and w.is_running for w in self.ampsm.workers)
        self.query_one("#chat-status", Static).update(" ▶ the agent is working…" if busy else "")

    def on_unmount(self) -> None:
        self.ampsm.transcripts.detach(self._log)  # by reference: queries fail once children are gone

    def action_send(self) -> None:
        editor = self.query_one("#chat-input", TextArea)
        text = editor.text.strip()
        if not text:
            return
        editor.text = ""
        self.ampsm.transcripts.add_line(self.session_id, "marker", "you › " + text.splitlines()[0][:200])
        app = self.ampsm

        from ..turns import iterate

        iterate(app, self.session_id, text, description="Chat")
        self.set_timer(0.1, self._update_status)

    @on(EngineEventMessage)
    def _event(self, message: EngineEventMessage) -> None:
        self._update_status()
        if message.event.topic in ("iteration.finished", "session.status"):
            self.load()

    def action_close(self) -> None:
        self.dismiss()

    def action_toggle_details(self) -> None:
        self.query_one(OutputLog).action_toggle_details()

    def action_follow(self) -> None:
        self.query_one(OutputLog).action_follow()
