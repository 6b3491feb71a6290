"""`Store` combines one repository per area (the package docstring says why it is lazy)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .batch_queue import BatchQueueRepo
from .batches import BatchesRepo
from .bench import BenchRepo
from .imports import ImportsRepo
from .iterations import IterationsRepo
from .overview import OverviewRepo
from .ports import PortsRepo
from .sessions import SessionsRepo
from .telemetry import TelemetryRepo

if TYPE_CHECKING:
    from ..config import Config


class Store(
    SessionsRepo,
    IterationsRepo,
    BatchesRepo,
    OverviewRepo,
    BatchQueueRepo,
    TelemetryRepo,
    BenchRepo,
    PortsRepo,
    ImportsRepo,
):
    @classmethod
    def from_config(cls, config: Config, path: Path | None = None) -> Store:
        db = config.database
        return cls(
            path or config.db_path,
            busy_timeout_ms=db.busy_timeout_ms,
            journal_mode=db.journal_mode,
            cache_size=db.cache_size,
        )
