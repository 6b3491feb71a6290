"""The demo's TUI part: the app on the demo workspace, the live session streaming, a first-time hint.

Kept out of `commands/` (which never imports the UI); `ampsm demo` imports this only to open the TUI.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from .scenario import SESSIONS, start_live
from .workspace import DemoWorkspace

if TYPE_CHECKING:
    from ..engine.config import Config
    from ..engine.engine import Engine

#: The hint stays this long (it covers part of the live session) unless the user opens a screen first.
HINT_TIMEOUT_S = 10

HINT_ACTIONS = ("open_session", "diff", "review", "iterate", "batches", "help", "quit")


def first_time_hint() -> str:
    """Which keys to press, read from the actions registry (so the hint follows the key map)."""
    from .. import actions

    keys = " · ".join(f"{actions.by_id(a).display_keys} {actions.by_id(a).description.lower()}" for a in HINT_ACTIONS)
    return (
        f"Welcome to the ampsm demo. ↑/↓ pick a session · {keys}. "
        f"'{SESSIONS['live'][0]}' is streaming live, '{SESSIONS['failing'][0]}' awaits input (press "
        f"{actions.by_id('iterate').display_keys} and the agent fixes its test), "
        f"'{SESSIONS['conflict'][0]}' conflicts when merged."
    )


def clear_hint_once_moved_on(app: Any, holder: dict[str, Any]) -> None:
    """The hint toast covers part of the screen: once the user opens any screen it has done its job."""
    if len(app.screen_stack) > 2:  # the default screen, the dashboard, and something opened on it
        app.clear_notifications()
        holder.pop("hint").stop()


async def run_demo_tui(config: Config, ws: DemoWorkspace, *, speed: float) -> int:
    from ..app import create_app
    from ..engine.engine import Engine

    holder: dict[str, Any] = {}

    async def factory(cfg: Config) -> Engine:
        engine = await Engine.open(cfg)
        holder["live"] = start_live(engine, ws, speed=speed)
        app.notify(first_time_hint(), title="ampsm demo", timeout=HINT_TIMEOUT_S)
        holder["hint"] = app.set_interval(0.5, partial(clear_hint_once_moved_on, app, holder))
        return engine

    app = create_app(config, engine_factory=factory)
    await app.run_async()
    return int(app.return_code or 0)
