"""The Engine: one config, one store, one event bus and the services on top of them.

The TUI owns one Engine in its event loop; each headless command opens one for its run. Nothing
here knows about a terminal.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .config import Config, load_config
from .events import MetricsEventBus
from .logs import setup_logging
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
        from .batches import BatchService
        from .notify import Notifier
        from .review import ReviewService
        from .sessions import SessionService

        self.config = config
        self.store = store
        self.bus = bus
        self.sessions: SessionService = SessionService(config, store, bus)
        self.review: ReviewService = ReviewService(config, self.sessions, bus)
        self.batches: BatchService = BatchService(self)
        # The one notifier (webhook, email) for everything this engine drives, in any face: a
        # session needing input, a batch ending. Another process's work is notified by that process.
        self.notifier: Notifier = Notifier.from_config(config, store=store)
        self._detach_notifier = self.notifier.attach(bus)
        self._backup: asyncio.Task[Any] | None = None
        self._prune: asyncio.Task[Any] | None = None

    @classmethod
    async def open(cls, config: Config | None = None, store: Store | None = None) -> Engine:
        config = config or load_config()
        setup_logging(config.log_path, config.log_level)
        from .fsperm import private_dir

        private_dir(config.streams_dir)  # raw agent streams: prompts and tool output, the user's only
        if store is None:
            store = Store.from_config(config)
            await store.open()
        engine = cls(config, store, MetricsEventBus())
        await engine.sessions.reconcile()
        from .backup import maybe_backup_async

        # database.backup_interval: a copy when the newest is too old; telemetry.retention_days: old
        # detail pruned once a day. Both run beside the command's own work and close() waits for
        # them, so no task outlives a headless command.
        engine._backup = asyncio.create_task(maybe_backup_async(config))
        engine._prune = asyncio.create_task(engine._daily_prune())
        return engine

    async def _daily_prune(self) -> None:
        from .telemetry import maybe_prune

        await maybe_prune(self.store, self.config)

    async def close(self, *, notify_timeout: float = NOTIFY_DRAIN_S) -> None:
        await self.sessions.shutdown()
        # Messages in flight are delivered before the store they read from is closed.
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
