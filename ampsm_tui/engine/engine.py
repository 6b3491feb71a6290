"""The Engine: one config, one store, one event bus and the services on top of them.

The TUI owns one Engine in its event loop; each headless command opens one for its run. Nothing
here knows about a terminal.
"""

from __future__ import annotations

import asyncio
import logging
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .config import Config, load_config
from .events import MetricsEventBus
from .logs import setup_logging
from .models import SessionStatus
from .store import Store

if TYPE_CHECKING:
    from .batches import BatchService
    from .notify import Notifier
    from .review import ReviewService
    from .sessions import SessionService

log = logging.getLogger(__name__)

#: How long closing waits for webhook/email messages still in flight.
NOTIFY_DRAIN_S = 30.0


class Engine:
    def __init__(self, config: Config, store: Store, bus: MetricsEventBus) -> None:
        self.config = config
        self.store = store
        self.bus = bus
        self._backup: asyncio.Task[Any] | None = None
        self._prune: asyncio.Task[Any] | None = None

    @cached_property
    def sessions(self) -> SessionService:
        """Built on first use: a read-only command (`list`, `status`) never imports the runner,
        the agents or the git layer."""
        from .sessions import SessionService

        self.notifier  # noqa: B018 - subscribed before anything that publishes exists
        return SessionService(self.config, self.store, self.bus)

    @cached_property
    def review(self) -> ReviewService:
        """Landing a session (`land`): the wizard's and `ampsm land`'s one call."""
        from .review import ReviewService

        return ReviewService(self.config, self.sessions, self.bus)

    @cached_property
    def batches(self) -> BatchService:
        from .batches import BatchService

        return BatchService(self)

    @cached_property
    def notifier(self) -> Notifier:
        """The one notifier (webhook, email) for everything this engine drives, in any face: a
        session needing input, a batch ending. Another process's work is notified by that process.
        Built with the first service, so a read-only command never imports it."""
        from .notify import Notifier

        notifier = Notifier.from_config(self.config, store=self.store)
        self._detach_notifier = notifier.attach(self.bus)
        return notifier

    @classmethod
    async def open(cls, config: Config | None = None, store: Store | None = None) -> Engine:
        """Start-up work is only what is due: a reconcile when some session claims to be running,
        a backup when the newest is too old, a prune once a day. A read-only command (`list`)
        usually pays for three cheap checks and nothing else."""
        config = config or load_config()
        setup_logging(config.log_path, config.log_level)
        from .childwatch import use_pidfd_watcher

        use_pidfd_watcher()  # git and agents end without a thread each (Python 3.11)
        from .fsperm import private_dir

        private_dir(config.streams_dir)  # raw agent streams: prompts and tool output, the user's only
        if store is None:
            store = Store.from_config(config)
            await store.open()
        engine = cls(config, store, MetricsEventBus())
        if await store.list_sessions(status=SessionStatus.RUNNING, limit=1):
            await engine.sessions.reconcile()
        from .backup import backup_due, maybe_backup_async

        # database.backup_interval: a copy when the newest is too old; telemetry.retention_days: old
        # detail pruned once a day. Both run beside the command's own work and close() waits for
        # them, so no task outlives a headless command.
        if backup_due(config):
            engine._backup = asyncio.create_task(maybe_backup_async(config))
        engine._prune = asyncio.create_task(engine._daily_prune())
        return engine

    async def _daily_prune(self) -> None:
        from .telemetry import maybe_prune

        await maybe_prune(self.store, self.config)

    async def close(self, *, notify_timeout: float = NOTIFY_DRAIN_S) -> None:
        if "sessions" in self.__dict__:  # only a service that was built can have work to cancel
            await self.sessions.shutdown()
        if "notifier" in self.__dict__:  # messages in flight go before the store they read is closed
            await self.notifier.drain(timeout=notify_timeout)
            self._detach_notifier()
        for name in ("_backup", "_prune"):
            task: asyncio.Task[Any] | None = getattr(self, name)
            if task is None:
                continue
            try:
                await task
            except Exception:
                log.exception("periodic %s failed", name.strip("_"))
            setattr(self, name, None)
        await self.store.close()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
