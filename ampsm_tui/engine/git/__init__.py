"""The git side of a session, as a plain async API (no UI). Every writer takes the repo lock.

    from ampsm_tui.engine.git import create_worktree, commit_iteration, squash, merge, ...

- `await create_worktree(repo, session_id, name, base, *, worktree_dir=".worktrees", lock_timeout=60)
  -> WorktreeInfo(path, branch, base_branch, base_sha, session_id)`: `<repo>/.worktrees/<id>/` on
  branch `amp/<slug>/<YYYYMMDD-HHMMSS>[-N]` from `base`; E001 bad repo/base/in-progress op, E004 failure.
- `await remove_worktree(repo, worktree, branch, *, session_id=None, force=False, delete_branch=True)
  -> RemoveResult(removed_worktree, deleted_branch, archive: ArchiveResult(ref, tip, wip_sha))`:
  unmerged commits / uncommitted changes are kept under `refs/ampsm/archive/<session-id>` first.
- `await archive_work(repo, session_id, *, worktree=None, branch=None) -> ArchiveResult` (the keeping
  alone, without removing anything; call it inside `RepoLock`).
- `RepoLock(repo, timeout, purpose="")`: async context manager, flock on `<common .git>/ampsm.lock`,
  re-entrant within a task; `LockTimeout` (an AmpsmError E001) names the holder's pid.
- Everything ampsm keeps inside a worktree belongs under `<worktree>/.ampsm/` (`BOOKKEEPING_DIR`):
  it is never committed, squashed or merged (lesson 6).
"""

from __future__ import annotations

from .archive import ArchiveResult, archive_work
from .locks import LockTimeout, RepoLock
from .repo import BOOKKEEPING_DIR, current_operation, dirty_paths, repo_paths, validate_repo
from .slug import branch_name, slugify
from .worktrees import RemoveResult, WorktreeInfo, create_worktree, remove_worktree

__all__ = [
    "BOOKKEEPING_DIR",
    "ArchiveResult",
    "LockTimeout",
    "RemoveResult",
    "RepoLock",
    "WorktreeInfo",
    "archive_work",
    "branch_name",
    "create_worktree",
    "current_operation",
    "dirty_paths",
    "remove_worktree",
    "repo_paths",
    "slugify",
    "validate_repo",
]
