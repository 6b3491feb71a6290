"""The UI's Textual messages. Screens and widgets import them from here, never from `app.py`
(which imports the screens): the import graph of `ampsm_tui` stays free of circles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from .engine.events import Event


class EngineEventMessage(Message):
    """An engine event (not agent output) for the screens."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class DataChanged(Message):
    """Another process committed to the DB; replaceable so a burst of commits is one refresh."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DataChanged)
