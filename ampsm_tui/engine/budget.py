"""Budgets that hold: per session (`--max-cost`), per batch (`maxCost`) and per day (`budget.daily`).

Why a module of its own: the session loop, the batch scheduler and the CLI all ask the same two
questions — "how much has this spent?" and "may the next turn start?" — and must answer them the
same way. Spending is read from the iterations in the DB (the one record every process shares), so
a budget also holds across processes. A turn whose cost is unknown (unpriced: tokens spent at a
price we do not know) is never counted as $0: it is counted separately and reported as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config
    from .store import Store


@dataclass(frozen=True)
class Spend:
    """Dollars of priced turns and the number of turns whose price is unknown."""

    usd: float = 0.0
    unpriced: int = 0

    def describe(self) -> str:
        text = f"${self.usd:.4f} spent"
        if self.unpriced:
            text += f", {self.unpriced} unpriced turn{'s' if self.unpriced != 1 else ''} not counted (cost unknown)"
        return text


@dataclass(frozen=True)
class BudgetStop:
    """Why a turn or an item may not start: which budget, its limit and what was spent."""

    scope: str  # "session" | "batch" | "day"
    limit: float
    spend: Spend

    @property
    def message(self) -> str:
        names = {"session": "session budget --max-cost", "batch": "batch budget maxCost", "day": "daily budget"}
        return f"{names.get(self.scope, self.scope)} ${self.limit:g} reached ({self.spend.describe()})"


def day_start(now: datetime | None = None) -> str:
    """Midnight UTC of today, in the ISO form iterations' `started_at` uses (so it sorts as text)."""
    from .clock import to_iso, utcnow

    now = now or utcnow()
    return to_iso(now.replace(hour=0, minute=0, second=0, microsecond=0))


async def day_spend(store: Store) -> Spend:
    usd, unpriced = await store.cost_since(day_start())
    return Spend(usd, unpriced)


async def session_spend(store: Store, session_id: str) -> Spend:
    usd = 0.0
    unpriced = 0
    for it in await store.list_iterations(session_id):
        if it.cost_usd is not None:
            usd += it.cost_usd
        elif it.total_tokens > 0:
            unpriced += 1
    return Spend(usd, unpriced)


async def batch_spend(store: Store, batch_id: str) -> Spend:
    usd = 0.0
    unpriced = 0
    for row in await store.batch_item_stats(batch_id):
        usd += float(row.get("cost_usd") or 0.0)
        unpriced += int(row.get("unpriced") or 0)
    return Spend(usd, unpriced)


async def daily_stop(store: Store, config: Config) -> BudgetStop | None:
    """The daily budget's stop, when `budget.daily` is set and today's spending reached it."""
    limit = config.budget.daily
    if limit is None:
        return None
    spend = await day_spend(store)
    return BudgetStop("day", limit, spend) if spend.usd >= limit else None


async def session_stop(store: Store, config: Config, session_id: str, max_cost: float | None) -> BudgetStop | None:
    """Before a turn of a session: its own budget first, then the day's."""
    if max_cost is not None:
        spend = await session_spend(store, session_id)
        if spend.usd >= max_cost:
            return BudgetStop("session", max_cost, spend)
    return await daily_stop(store, config)


async def budget_left(store: Store, config: Config, session_id: str, max_cost: float | None) -> float | None:
    """Dollars a session's next turn may spend before it is stopped mid-turn: what is left of its
    own budget and of the day's, whichever is less (None: neither is set)."""
    left: list[float] = []
    if max_cost is not None:
        left.append(max_cost - (await session_spend(store, session_id)).usd)
    if config.budget.daily is not None:
        left.append(config.budget.daily - (await day_spend(store)).usd)
    return max(0.0, min(left)) if left else None


async def batch_stop(store: Store, config: Config, batch_id: str, max_cost: float | None) -> BudgetStop | None:
    """Before a batch item starts: the batch's `maxCost`, then the day's budget."""
    if max_cost is not None:
        spend = await batch_spend(store, batch_id)
        if spend.usd >= max_cost:
            return BudgetStop("batch", max_cost, spend)
    return await daily_stop(store, config)


__all__ = [
    "BudgetStop",
    "Spend",
    "batch_spend",
    "batch_stop",
    "budget_left",
    "daily_stop",
    "day_spend",
    "day_start",
    "session_spend",
    "session_stop",
]
