"""Overlap warnings: live sessions of one repo whose changes touch the same files.

Why: two agents editing one file in parallel is the four-way conflict users resolve by hand later;
seeing it while both are live (in `list`/`status`) or before landing lets the user land one first,
or stop one. Each live session's changed files are its worktree against the merge base with its base
branch (committed, uncommitted and untracked work alike); for each pair sharing files, git predicts
the conflict by merging the two branch tips in memory (`git merge-tree --write-tree`, nothing is
written to any ref or worktree).

Cost: about three git calls per live session and one merge per overlapping pair, so only sessions
that share their repo with another live session are looked at (a session alone in its repo cannot
overlap anyone), a repo with more than PER_REPO live sessions (a big batch) compares its PER_REPO
most recently updated ones (the work in hand; the pairs grow with the square), and at most
GIT_CONCURRENCY sessions or pairs run git at once, however many sessions are listed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .git.runner import git, split_z
from .models import Session, SessionStatus

_ENDED = (SessionStatus.DONE, SessionStatus.ARCHIVED)
#: Sessions looked at in parallel (each runs up to two git calls at once, then the pair's merge-tree).
GIT_CONCURRENCY = 4
#: Live sessions compared per repo: the most recently updated ones.
PER_REPO = 16


class SessionLike(Protocol):
    """What the check reads of a session: a `Session`, or the dashboard's plain list row
    (`store.overview.SessionListItem`), so a reload of 10,000 rows builds no models for it."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def repo_path(self) -> str: ...
    @property
    def base_branch(self) -> str: ...
    @property
    def branch(self) -> str: ...
    @property
    def worktree_path(self) -> str: ...
    @property
    def status(self) -> SessionStatus: ...
    @property
    def created_at(self) -> str: ...
    @property
    def updated_at(self) -> str: ...


S = TypeVar("S", bound=SessionLike)


@dataclass
class Overlap:
    """Another live session of the same repo touching some of the same files."""

    session_id: str
    name: str
    files: list[str]
    conflicts: list[str] | None = field(default=None)  # predicted conflicting files; None: unknown

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        files = ", ".join(self.files[:5]) + (" …" if len(self.files) > 5 else "")
        if self.conflicts:
            verdict = f"predicted conflict in {', '.join(self.conflicts)}"
        elif self.conflicts == []:
            verdict = "the branches merge cleanly so far"
        else:
            verdict = "conflict not predicted (no commits to compare yet)"
        return f"overlaps {self.session_id} ({self.name}) on {files}: {verdict}"


def _live(session: SessionLike) -> bool:
    return session.status not in _ENDED and bool(session.worktree_path) and Path(session.worktree_path).is_dir()


async def changed_files(session: SessionLike) -> set[str]:
    """Files the session changed against the merge base with its base branch, worktree included."""
    wt = Path(session.worktree_path)
    base = await git("merge-base", session.base_branch, "HEAD", cwd=wt, check=False)
    if not base.ok:
        return set()
    diff, untracked = await asyncio.gather(
        git("diff", "--name-only", "-z", "--no-renames", base.out, "--", cwd=wt, check=False),
        git("ls-files", "--others", "--exclude-standard", "-z", cwd=wt, check=False),
    )
    return set(split_z(diff.stdout)) | set(split_z(untracked.stdout))


async def predicted_conflicts(repo: Path, one: SessionLike, other: SessionLike) -> list[str] | None:
    """Files that would conflict if both branch tips were merged (None: cannot tell)."""
    if not one.branch or not other.branch:
        return None
    res = await git(
        "merge-tree", "--write-tree", "--name-only", "--no-messages", one.branch, other.branch, cwd=repo, check=False
    )
    if res.returncode not in (0, 1):
        return None
    return sorted(set(res.stdout.splitlines()[1:])) if res.returncode == 1 else []


def sharing_a_repo(sessions: Sequence[S], per_repo: int = PER_REPO) -> list[S]:
    """The live sessions whose repo has another live session (the only ones that can overlap), at
    most `per_repo` of each repo, the most recently updated first. Cheap: no git, and a worktree is
    only looked for on disk for the sessions kept."""
    by_repo: dict[str, list[S]] = {}
    for s in sessions:
        if s.status not in _ENDED and s.worktree_path:
            by_repo.setdefault(s.repo_path, []).append(s)
    kept: list[S] = []
    for group in by_repo.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda s: s.updated_at or s.created_at, reverse=True)
        live = [s for s in group[:per_repo] if _live(s)]
        if len(live) > 1:
            kept.extend(live)
    return kept


async def find_overlaps(sessions: Sequence[SessionLike]) -> dict[str, list[Overlap]]:
    """Each live session's overlaps with the other live sessions of its repo (only those with any)."""
    live = sharing_a_repo(sessions)
    gate = asyncio.Semaphore(GIT_CONCURRENCY)

    async def files_of(session: SessionLike) -> set[str]:
        async with gate:
            return await changed_files(session)

    async def conflicts_of(one: SessionLike, other: SessionLike) -> list[str] | None:
        async with gate:
            return await predicted_conflicts(Path(one.repo_path), one, other)

    files = dict(zip([s.id for s in live], await asyncio.gather(*(files_of(s) for s in live)), strict=True))
    pairs: list[tuple[SessionLike, SessionLike, list[str]]] = []
    for i, one in enumerate(live):
        for other in live[i + 1 :]:
            if one.repo_path != other.repo_path:
                continue
            shared = sorted(files[one.id] & files[other.id])
            if shared:
                pairs.append((one, other, shared))
    verdicts = await asyncio.gather(*(conflicts_of(one, other) for one, other, _ in pairs))
    found: dict[str, list[Overlap]] = {}
    for (one, other, shared), conflicts in zip(pairs, verdicts, strict=True):
        found.setdefault(one.id, []).append(Overlap(other.id, other.name, shared, conflicts))
        found.setdefault(other.id, []).append(Overlap(one.id, one.name, shared, conflicts))
    return found


async def overlaps_of(session: Session, others: list[Session]) -> list[Overlap]:
    """One session's overlaps (for `status` and before landing)."""
    same_repo = [s for s in others if s.repo_path == session.repo_path and s.id != session.id]
    nearest = sharing_a_repo([session, *same_repo], PER_REPO + 1)  # the session itself is always compared
    nearest = [s for s in nearest if s.id != session.id][: PER_REPO - 1]
    return (await find_overlaps([session, *nearest])).get(session.id, [])


__all__ = ["Overlap", "changed_files", "find_overlaps", "overlaps_of", "predicted_conflicts", "sharing_a_repo"]
