"""The session actions shared by the dashboard and the session screen (one implementation each).

A screen using this mixin provides `selected_session()`; every engine call runs in an app-owned
async worker (`app.run_engine`), so leaving the screen never cancels an iteration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..app import AmpsmApp
    from ..engine.models import Session
    from .new_session import NewSessionRequest

from ..turns import iterate


class SessionRef(Protocol):
    """What the actions need of the selected session: a `Session`, or the dashboard's plain list row."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


class SessionActions:
    app: Any

    def selected_session(self) -> SessionRef | None:  # pragma: no cover - provided by the screen
        raise NotImplementedError

    @property
    def _app(self) -> AmpsmApp:
        return self.app

    def _need_session(self) -> SessionRef | None:
        session = self.selected_session()
        if session is None:
            self._app.notify("Select a session first (or press n to create one).", severity="warning")
        return session

    # -- create -----------------------------------------------------------------------------

    def action_new_session(self) -> None:
        from .new_session import NewSessionScreen

        self._app.push_screen(NewSessionScreen(), self._create)

    def _create(self, request: NewSessionRequest | None) -> None:
        if request is None:
            return
        app = self._app

        async def work() -> Any:
            return await app.engine.sessions.create(**request.create_kwargs())

        def done(session: Session) -> None:
            app.notify(f"Created {session.name} on {session.branch}", title="Session")
            select = getattr(self, "select_session", None)
            if select is not None:
                select(session.id)
            if request.run_now:
                self._iterate(session.id, None)

        app.run_engine(work, group=f"create:{request.name}", description="New session", on_done=done)

    # -- iterate / chat -----------------------------------------------------------------------

    def action_iterate(self) -> None:
        session = self._need_session()
        if session is None:
            return
        from .dialogs import PromptScreen

        def chosen(prompt: str | None) -> None:
            if prompt is not None:
                self._iterate(session.id, prompt.strip() or None)

        self._app.push_screen(
            PromptScreen(
                f"Iterate {session.name}",
                placeholder="Optional follow-up prompt (empty: continue with the session's prompt)",
            ),
            chosen,
        )

    def _iterate(self, session_id: str, prompt: str | None) -> None:
        iterate(self._app, session_id, prompt)

    def action_chat(self) -> None:
        session = self._need_session()
        if session is None:
            return
        from .chat import ChatScreen

        self._app.push_screen(ChatScreen(session.id))

    # -- review ---------------------------------------------------------------------------------

    def action_open_session(self) -> None:
        session = self._need_session()
        if session is None:
            return
        self._app.open_session(session.id)  # the app pushes it: `session` mixes this class in

    def action_diff(self) -> None:
        session = self._need_session()
        if session is None:
            return
        from .diff import DiffScreen

        self._app.push_screen(DiffScreen(session.id))

    def action_review(self) -> None:
        session = self._need_session()
        if session is None:
            return
        from .review import ReviewScreen

        self._app.push_screen(ReviewScreen(session.id))

    # -- best-of and the merge queue -------------------------------------------------------------

    def action_best_of(self) -> None:
        session = self._need_session()
        if session is None:
            return
        from ..engine.bestof import group_of

        if group_of(self._app.engine, session.id) is None:
            self._app.notify(
                f"{session.name} is not a best-of candidate (ampsm new --agents a,b --n N makes a group).",
                severity="warning",
            )
            return
        from .best_of import BestOfScreen

        self._app.push_screen(BestOfScreen(session.id))

    def action_merge_queue(self) -> None:
        from .merge_queue import MergeQueueScreen

        self._app.push_screen(MergeQueueScreen())

    def action_queue_add(self) -> None:
        """Queue the selected session and run the queue in an app worker (one land at a time; a
        queue already running here or in another process takes the entry), showing the queue."""
        session = self._need_session()
        if session is None:
            return
        app = self._app
        from ..engine.queue import MergeQueue

        queue = MergeQueue(app.engine)

        async def work() -> Any:
            await queue.add([session.id])
            return await queue.run()

        def done(ran: Any) -> None:
            if ran is None:
                app.notify("Queued; the queue is running elsewhere and takes it.", title="Merge queue")
                return
            landed = sum(1 for e in ran if e.status == "landed")
            removed = len(ran) - landed
            app.notify(
                f"Merge queue: {landed} landed, {removed} taken out",
                title="Merge queue",
                severity="warning" if removed else "information",
            )

        app.run_engine(work, group="merge-queue", description="Merge queue", on_done=done, exclusive=False)
        self.action_merge_queue()

    # -- cancel / archive ---------------------------------------------------------------------------

    def action_cancel(self) -> None:
        session = self._need_session()
        if session is None:
            return
        app = self._app

        async def work() -> Any:
            return await app.engine.sessions.cancel(session.id)

        def done(cancelled: bool) -> None:
            app.notify("Cancelled." if cancelled else "Nothing was running.", title=session.name)

        app.run_engine(work, group=f"cancel:{session.id}", description="Cancel", on_done=done)

    def action_archive(self) -> None:
        session = self._need_session()
        if session is None:
            return
        app = self._app

        def go(yes: bool | None) -> None:
            if not yes:
                return

            async def work() -> Any:
                return await app.engine.sessions.archive(session.id)

            def done(kept: Any) -> None:
                hint = f" Work kept at {kept}." if kept else ""
                app.notify(f"Archived {session.name}.{hint}", title="Archive")

            app.run_engine(work, group=f"archive:{session.id}", description="Archive", on_done=done)

        if app.config.ui.confirm_destructive:
            from .dialogs import ConfirmScreen

            app.push_screen(
                ConfirmScreen(f"Archive {session.name}? Unmerged work is kept under refs/ampsm/archive/."), go
            )
        else:
            go(True)
