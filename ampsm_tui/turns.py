"""Running an agent turn from any screen (the dashboard's `i`, the session screen, the chat): one
implementation, in a module of its own so that no screen imports another screen's module for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import AmpsmApp


def thread_gone(text: str) -> bool:
    """Whether an agent's error says the conversation it was asked to continue does not exist."""
    import re

    return bool(re.search(r"thread\b.*\bnot found|no such thread|unknown thread", text, re.IGNORECASE))


def iterate(app: AmpsmApp, session_id: str, prompt: str | None, *, description: str = "Iterate") -> None:
    """One iteration in an app-owned worker; when the agent no longer knows the session's thread, a
    fresh thread is offered (the work so far is on the branch) instead of a bare error."""

    async def work() -> Any:
        from .engine.errors import AmpsmError

        try:
            return await app.engine.sessions.iterate(session_id, prompt)
        except AmpsmError as exc:
            if thread_gone(str(exc)):
                return exc
            raise

    def done(result: Any) -> None:
        text = str(result) if isinstance(result, Exception) else (getattr(result, "error", None) or "")
        if thread_gone(text):
            offer_fresh_thread(app, session_id, prompt, text, description=description)

    app.run_engine(work, group=f"iterate:{session_id}", description=description, exclusive=False, on_done=done)


def offer_fresh_thread(app: AmpsmApp, session_id: str, prompt: str | None, why: str, *, description: str) -> None:
    """The agent no longer knows the session's thread (an interrupted turn, a cleared agent state):
    the work is on the branch, so a fresh thread can carry on from there."""
    from .screens.dialogs import ConfirmScreen

    def decided(yes: bool | None) -> None:
        if not yes:
            return

        async def reset() -> Any:
            await app.store.update_session(session_id, thread_id=None)

        app.run_engine(
            reset,
            group=f"thread:{session_id}",
            description="Fresh thread",
            on_done=lambda _: iterate(app, session_id, prompt, description=description),
        )

    app.push_screen(
        ConfirmScreen(
            f"The agent's thread is gone ({why.strip()[:120]}). Start a fresh thread? The work so far stays on"
            " the branch.",
            yes="Fresh thread",
            no="Not now",
        ),
        decided,
    )
