"""The Engine: one config, one store, one event bus and the services on top of them.

The TUI owns one Engine in its event loop; each headless command opens one for its run. Nothing
here knows about a terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import Config, load_config
from .events import MetricsEventBus
from .logs import setup_logging
from .store import Store

if TYPE_CHECKING:
    from .sessions import SessionService


class Engine:
    def __init__(self, config: Config, store: Store, bus: MetricsEventBus) -> None:
        from .sessions import SessionService

        self.config = config
        self.store = store
        self.bus = bus
        self.sessions: SessionService = SessionService(config, store, bus)

    @classmethod
    async def open(cls, config: Config | None = None, store: Store | None = None) -> Engine:
        config = config or load_config()
        setup_logging(config.log_path, config.log_level)
        if store is None:
            store = Store.from_config(config)
            await store.open()
        engine = cls(config, store, MetricsEventBus())
        await engine.sessions.reconcile()
        from .backup import maybe_backup_async

        await maybe_backup_async(config)  # database.backup_interval: a copy when the newest is too old
        return engine

    async def close(self) -> None:
        await self.sessions.shutdown()
        await self.store.close()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
