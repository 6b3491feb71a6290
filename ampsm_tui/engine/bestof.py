"""Best-of-N: one prompt, N sessions in parallel (several agents, or one agent N times), ranked.

Why: an agent's first answer is a sample; running a few and keeping the one that passes the test
gate is cheaper than iterating on a bad one. Candidates are ranked by the gate first (passed before
failed), then the smaller diff, the lower cost (unpriced last: an unknown cost is never taken as $0)
and the shorter time. The group is kept as a small JSON file beside the config so that landing the
winner later (`ampsm land`, the queue) archives the others — kept under refs/ampsm/archive/ and
restorable with `ampsm restore`, never deleted.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .clock import now_iso, parse_iso
from .errors import UsageError
from .models import Iteration, IterationStatus, Session, SessionStatus, new_id

if TYPE_CHECKING:
    from .engine import Engine


class Candidate(BaseModel):
    session_id: str
    agent: str
    name: str
    passed: bool = False  # the agent completed and the test gate passed (or there is none)
    status: str = ""
    test_exit_code: int | None = None
    lines_changed: int = 0
    cost_usd: float | None = None
    duration_s: float | None = None
    error: str | None = None
    rank: int = 0


class BestOf(BaseModel):
    id: str
    repo_path: str
    prompt: str
    candidates: list[Candidate]
    winner: str | None = None  # the session id ranked first
    created_at: str = ""
    landed: str | None = None  # the candidate that was landed (the others were archived)


def rank_key(c: Candidate) -> tuple[bool, int, float, float]:
    return (
        not c.passed,
        c.lines_changed,
        c.cost_usd if c.cost_usd is not None else math.inf,
        c.duration_s if c.duration_s is not None else math.inf,
    )


def _folder(engine: Engine) -> Path:
    return engine.config.config_dir / "bestof"


def save(engine: Engine, group: BestOf) -> None:
    folder = _folder(engine)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{group.id}.tmp"
    tmp.write_text(json.dumps(group.model_dump(mode="json"), indent=2), encoding="utf-8")
    os.replace(tmp, folder / f"{group.id}.json")


def groups(engine: Engine) -> list[BestOf]:
    folder = _folder(engine)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(BestOf.model_validate_json(path.read_text(encoding="utf-8")))
        except ValueError:
            continue
    return found


def group_of(engine: Engine, session_id: str) -> BestOf | None:
    """The best-of group `session_id` is a candidate of (the newest one), else None."""
    found = [g for g in groups(engine) if any(c.session_id == session_id for c in g.candidates)]
    return max(found, key=lambda g: g.created_at) if found else None


async def run_best_of(
    engine: Engine,
    *,
    repo: str,
    name: str,
    prompt: str,
    agents: list[str],
    n: int,
    script: str | None = None,
    agent_cmd: str | None = None,
    model: str | None = None,
    timeout_s: float | None = None,
    base: str | None = None,
    setup: str | None = None,
    max_cost: float | None = None,
) -> BestOf:
    """Create len(agents) × n sessions (one after the other: each makes a worktree), run their
    first turn in parallel, rank them and keep the group."""
    if n < 1 or not agents:
        raise UsageError("best-of needs at least one agent and --n 1 or more")
    sessions = []
    for agent in agents:
        for k in range(1, n + 1):
            sessions.append(
                await engine.sessions.create(
                    repo=repo,
                    name=f"{name} {agent} {k}",
                    prompt=prompt,
                    script=script,
                    agent=agent,
                    agent_cmd=agent_cmd if agent == "command" else None,
                    model=model,
                    timeout_s=timeout_s,
                    base=base,
                    setup=setup,
                )
            )
    outcomes = await asyncio.gather(
        *(engine.sessions.iterate(s.id, max_cost=max_cost) for s in sessions), return_exceptions=True
    )
    candidates: list[Candidate] = []
    for session, outcome in zip(sessions, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, Exception):  # a cancellation is not a candidate's failure
                raise outcome
            candidates.append(candidate(session, None, error=str(outcome)))
        else:
            candidates.append(candidate(session, outcome))
    return ranked(engine, sessions[0].repo_path, prompt, candidates)


def candidate(session: Session, it: Iteration | None, *, error: str | None = None) -> Candidate:
    """A candidate from its session's turn (None: it never ran one, `error` says why)."""
    c = Candidate(session_id=session.id, agent=session.agent, name=session.name)
    if it is None:
        c.status, c.error = "error", error or "no turn ran"
        return c
    c.status = str(it.status)
    c.test_exit_code = it.test_exit_code
    c.passed = it.status == IterationStatus.COMPLETED and it.test_exit_code in (None, 0)
    c.lines_changed = it.lines_added + it.lines_removed
    c.cost_usd = it.cost_usd
    c.error = it.error
    if it.started_at and it.ended_at:
        c.duration_s = (parse_iso(it.ended_at) - parse_iso(it.started_at)).total_seconds()
    return c


def ranked(engine: Engine, repo_path: str, prompt: str, candidates: list[Candidate]) -> BestOf:
    """Rank the candidates, mark the winner (only one that passed the gate wins) and keep the group."""
    candidates.sort(key=rank_key)
    for index, c in enumerate(candidates, 1):
        c.rank = index
    group = BestOf(
        id=new_id("best"),
        repo_path=repo_path,
        prompt=prompt,
        candidates=candidates,
        winner=candidates[0].session_id if candidates and candidates[0].passed else None,
        created_at=now_iso(),
    )
    save(engine, group)
    return group


async def rank_batch_items(engine: Engine, session_ids: list[str], prompt: str) -> BestOf | None:
    """A batch's best-of item (`agents:`/`bestOf:`): its candidates ran as batch items; rank them on
    their latest turns once the batch ended. None when none of them got a session."""
    sessions = [s for s in [await engine.store.get_session(sid) for sid in session_ids] if s is not None]
    if not sessions:
        return None
    candidates = []
    for session in sessions:
        iterations = await engine.store.list_iterations(session.id)
        candidates.append(candidate(session, iterations[-1] if iterations else None))
    return ranked(engine, sessions[0].repo_path, prompt, candidates)


async def archive_the_others(engine: Engine, landed_id: str) -> list[str]:
    """After a candidate landed: archive the other candidates of its group (kept, restorable).
    Returns the archived session ids."""
    archived: list[str] = []
    for group in groups(engine):
        if landed_id not in {c.session_id for c in group.candidates} or group.landed:
            continue
        for c in group.candidates:
            if c.session_id == landed_id:
                continue
            session = await engine.store.get_session(c.session_id)
            if session is None or session.status in (SessionStatus.ARCHIVED, SessionStatus.DONE):
                continue
            await engine.sessions.archive(c.session_id)
            archived.append(c.session_id)
        group.landed = landed_id
        save(engine, group)
    return archived


def as_dict(group: BestOf) -> dict[str, Any]:
    return group.model_dump(mode="json")


__all__ = [
    "BestOf",
    "Candidate",
    "archive_the_others",
    "as_dict",
    "candidate",
    "group_of",
    "groups",
    "rank_batch_items",
    "rank_key",
    "ranked",
    "run_best_of",
]
