"""Kept work, at the session level: restore a session, list archives, prune old ones.

The git side lives in `git/archive.py` (making archives and snapshots) and `git/safekeep.py`
(listing, restoring, pruning); this module picks the right ref for a session from the DB's view.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import workspace
from .errors import AmpsmError, ErrorCode, UsageError
from .git.archive import checkpoint_of
from .git.repo import repo_paths, rev
from .git.safekeep import GcReport, KeptRef, RestoreResult, find_kept, gc_archives, list_kept, restore_worktree
from .git.worktrees import BASE_KEY, SESSION_KEY, worktrees_root
from .models import Session, SessionStatus

if TYPE_CHECKING:
    from .sessions import SessionService
    from .store import Store

#: Sessions whose worktree should exist (their checkpoints are not old news).
LIVE = frozenset(
    {
        SessionStatus.IDLE,
        SessionStatus.RUNNING,
        SessionStatus.AWAITING_INPUT,
        SessionStatus.ERROR,
        SessionStatus.INTERRUPTED,
    }
)


async def _source(root: Path, session: Session) -> str:
    """The ref to restore from: the newest archive of a removed session; for a live session whose
    worktree was lost, its last checkpoint (else its branch)."""
    tip = await rev(root, f"refs/heads/{session.branch}") if session.branch else None
    if session.status in (SessionStatus.ARCHIVED, SessionStatus.DONE) or tip is None:
        kept = await find_kept(root, session.id)
        if kept:
            return kept[0].ref
        if tip is None:
            raise UsageError(f"nothing to restore for {session.id}: no archive, and branch {session.branch} is gone")
    checkpoint = await checkpoint_of(root, session.id, tip)
    return checkpoint or f"refs/heads/{session.branch}"


async def restore_session(service: SessionService, session: Session) -> RestoreResult:
    root = Path((await repo_paths(session.repo_path)).root)
    target = (
        Path(session.worktree_path)
        if session.worktree_path
        else Path(worktrees_root(root, service.config.git.worktree_dir)) / session.id
    )
    if (target / ".git").exists():
        raise UsageError(f"session {session.id} already has its worktree at {target}; nothing to restore")
    if session.status is SessionStatus.RUNNING:
        raise UsageError(f"session {session.id} is running; cancel it first")
    if not session.branch:
        raise AmpsmError(ErrorCode.WORKTREE, f"session {session.id} has no branch to restore")
    source = await _source(root, session)
    result = await restore_worktree(
        root,
        target,
        session.branch,
        source,
        branch_config={SESSION_KEY: session.id, BASE_KEY: session.base_branch},
        lock_timeout=service.config.git.lock_timeout,
    )
    await service.store.update_session(session.id, worktree_path=str(target))
    session.worktree_path = str(target)
    ports = await workspace.allocate_ports(service.store, service.config, session.id)
    await workspace.copy_includes(
        root,
        target,
        service.config.workspace.include_file,
        service.config.workspace.link_threshold_mb,
        skip=[Path(worktrees_root(root, service.config.git.worktree_dir))],
    )
    # a restored worktree is a new worktree: it gets its setup (dependencies, generated files) too;
    # a failure keeps the restored work and leaves the session `error` until a setup passes
    setup = await workspace.run_setup(service, session, ports)
    if setup is not None and not setup.ok:
        reason = workspace.setup_failure(setup)
        await service.runner.set_status(session, SessionStatus.ERROR, reason, last_error=reason)
    else:
        await service.runner.set_status(session, SessionStatus.IDLE, f"restored from {source}", last_error=None)
    return result


async def known_repos(store: Store, repo: Path | None) -> list[Path]:
    """The repository asked for, or every repository a session was made in that still exists."""
    if repo is not None:
        return [Path((await repo_paths(repo)).root)]
    roots: list[Path] = []
    for path in sorted({s.repo_path for s in await store.list_sessions()}):
        try:
            root = Path((await repo_paths(path)).root)
        except AmpsmError:
            continue
        if root not in roots:
            roots.append(root)
    return roots


@dataclass
class RepoArchives:
    repo: Path
    archives: list[KeptRef]


async def list_archives(store: Store, repo: Path | None, *, checkpoints: bool = False) -> list[RepoArchives]:
    kinds = ("archive", "checkpoint") if checkpoints else ("archive",)
    return [RepoArchives(root, await list_kept(root, kinds=kinds)) for root in await known_repos(store, repo)]


async def gc(
    store: Store, repo: Path | None, older_than_s: float, *, dry_run: bool, lock_timeout: float
) -> list[tuple[Path, GcReport]]:
    live = frozenset(s.id for s in await store.list_sessions() if s.status in LIVE)
    return [
        (root, await gc_archives(root, older_than_s, dry_run=dry_run, live_sessions=live, lock_timeout=lock_timeout))
        for root in await known_repos(store, repo)
    ]
