"""The git side of a session, as a plain async API (no UI). Every writer takes the repo lock.

    from ampsm_tui.engine.git import create_worktree, commit_iteration, squash, merge, ...

Paths go in as `str` or `os.PathLike` and come out as absolute `str` (`RepoPaths`, `WorktreeInfo.path`,
`IntegrationResult.path`): pathlib, with the `re` and `urllib` it imports, was a fifth of a lean
`ampsm new`'s start-up; wrap in `Path()` where a caller wants one.

Repository (repo.py): `await repo_root(path) -> str` (main checkout, E001 if none),
`await default_base(repo, preferred="main") -> str`, `await validate_repo(path, base)`,
`await dirty_paths(path)`.

Worktrees (worktrees.py, archive.py)
- `await create_worktree(repo, session_id, name, base, *, worktree_dir=".worktrees", lock_timeout=60)
  -> WorktreeInfo(path, branch, base_branch, base_sha, session_id)`: `<repo>/.worktrees/<id>/` on
  branch `amp/<slug>/<YYYYMMDD-HHMMSS>[-N]` made from `base` without touching the main checkout;
  `.worktrees/` goes into `.git/info/exclude`. E001 bad repo / missing base / merge or rebase in
  progress; E004 any other failure, with nothing left behind.
- `await remove_worktree(repo, worktree, branch, *, session_id=None, force=False, delete_branch=True)
  -> RemoveResult(removed_worktree, deleted_branch, archive: ArchiveResult(ref, tip, wip_sha))`:
  unmerged commits / uncommitted changes are first kept under `refs/ampsm/archive/<session-id>/<stamp>`
  (`archive.describe()` / `restore_hint` say what and how to get it back). `force` aborts a merge/rebase
  in progress there.
- `await archive_work(repo, session_id, *, worktree=None, branch=None) -> ArchiveResult`: the keeping
  alone (call it inside `RepoLock`). Uncommitted state is a stash-shaped snapshot commit (parents: tip,
  index commit; trailer `Ampsm-Snapshot:`), made through a temporary index.
- safekeep.py: `list_kept(repo)` (archives/checkpoints with exclusive sizes), `restore_worktree(repo,
  target, branch, source)` (tip, index, files and untracked files back exactly), `gc_archives(repo,
  older_than_s, dry_run=True)`.

Commits and diffs (commits.py, diffs.py)
- `await commit_iteration(worktree, summary, *, session_id, iteration, prefix="amp:")
  -> CommitResult(sha, files_changed, lines_added, lines_removed, files: list[FileDiff]) | None`:
  `git add --all` (`.gitignore` respected, `.ampsm/` never), one commit `amp: <summary>` with
  `Amp-Session:`/`Amp-Iteration:` trailers; None when nothing changed.
- `await session_commits(worktree, base_branch) -> list[CommitInfo(sha, parents, subject, message, is_amp)]`.
- `await session_diff(worktree, base_branch=None, *, staged=False, unstaged=False, last_iteration=False,
  stat=False, paths=None, rev_range=None) -> str` (default: merge-base..HEAD) and
  `await diff_files(... same selectors ...) -> list[FileDiff(path, added, removed, status, old_path, binary)]`;
  `await last_iteration_diff(worktree, stat=False)` is HEAD~1..HEAD.

Integration (integrate.py) -> IntegrationResult(ok, operation, sha, conflicts, in_progress, path,
fast_forward, already_merged, message)
- `await squash(worktree, base_branch, message, *, prefix="amp:", manual="keep"|"fold") -> str`: against
  the merge-base; the tree is unchanged; manual commits kept before the squash (or after it when they
  build on amp: work), or folded in.
- `await rebase(worktree, onto, *, keep_conflict=False)`: E001 when the worktree has uncommitted
  changes; a conflict is aborted (everything as before) unless `keep_conflict`.
- `await merge(repo, worktree, branch, base_branch, *, mode="ff"|"no-ff"|"ff-only", keep_conflict=False,
  message=None, remove_after=False, session_id=None)`: in the checkout that has the base branch (E001
  with the dirty paths when it is not clean); else a fast-forward of the ref, or a merge commit in a
  temporary worktree (`result.path` while a kept conflict waits there).
- `await continue_operation(path)` (stages resolved files; files still holding markers are returned as
  conflicts), `await abort_operation(path)`, `await current_operation(path) -> "merge"|"rebase"|...|None`.
  `squash`, `rebase`, `continue_operation` and `abort_operation` also take a leading repo path
  (`rebase(repo, worktree, onto)`); given (repo, worktree), continue/abort find where the session's
  kept conflict waits (its worktree, the base checkout, or the temporary merge worktree).
- `await mark_resolved(repo, worktree, path)` (resolve.py): stage one resolved file of a kept conflict under
  the repo lock; refuses a file that still holds conflict markers or is not conflicting.

Locks and clean-up (locks.py, cleanup.py)
- `RepoLock(repo, timeout, purpose="")`: async context manager, flock on `<common .git>/ampsm.lock`,
  re-entrant within a task; `LockTimeout` (AmpsmError E001) names the holder's pid; dead holders'
  locks are taken over (the kernel drops a flock with its process).
- `await find_orphans(repo, known_sessions: {session_id: status}, *, worktree_dir=".worktrees")
  -> list[Orphan(kind, reason, path, branch, session_id, size_bytes, unmerged)]` and
  `await clean(repo, orphans, dry_run=False) -> CleanReport(dry_run, removed, archived, pruned, errors)`.
  Session branches carry `branch.<name>.ampsmSession` in git config, so a branch is matched to its
  session without the DB.
- `await run_selftest(repo, base=None)` (selftest.py): the `ampsm test-git` cycle in a throw-away clone.

Everything ampsm keeps inside a worktree belongs under `<worktree>/.ampsm/` (`BOOKKEEPING_DIR`): it is
never committed, squashed or merged (lesson 6). All git calls go through `runner.git` (argument lists,
GIT_EDITOR=true, GIT_TERMINAL_PROMPT=0, LC_ALL=C).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from typing import Any

    from .archive import ArchiveResult, archive_work
    from .cleanup import CleanReport, Orphan, clean, find_orphans
    from .commits import CommitInfo, CommitResult, commit_iteration, session_commits
    from .diffs import FileDiff, diff_files, last_iteration_diff, merge_base, session_diff
    from .integrate import (
        IntegrationResult,
        abort_operation,
        continue_operation,
        merge,
        rebase,
        restore_tip,
        squash,
    )
    from .locks import LockTimeout, RepoLock
    from .repo import (
        BOOKKEEPING_DIR,
        current_operation,
        default_base,
        dirty_paths,
        repo_paths,
        repo_root,
        validate_repo,
    )
    from .resolve import mark_resolved
    from .slug import branch_name, slugify
    from .worktrees import RemoveResult, WorktreeInfo, create_worktree, remove_worktree

_EXPORTS = {
    "ArchiveResult": ".archive",
    "archive_work": ".archive",
    "CleanReport": ".cleanup",
    "Orphan": ".cleanup",
    "clean": ".cleanup",
    "find_orphans": ".cleanup",
    "CommitInfo": ".commits",
    "CommitResult": ".commits",
    "commit_iteration": ".commits",
    "session_commits": ".commits",
    "FileDiff": ".diffs",
    "diff_files": ".diffs",
    "last_iteration_diff": ".diffs",
    "merge_base": ".diffs",
    "session_diff": ".diffs",
    "IntegrationResult": ".integrate",
    "abort_operation": ".integrate",
    "continue_operation": ".integrate",
    "merge": ".integrate",
    "rebase": ".integrate",
    "restore_tip": ".integrate",
    "squash": ".integrate",
    "LockTimeout": ".locks",
    "RepoLock": ".locks",
    "BOOKKEEPING_DIR": ".repo",
    "current_operation": ".repo",
    "default_base": ".repo",
    "dirty_paths": ".repo",
    "repo_paths": ".repo",
    "repo_root": ".repo",
    "validate_repo": ".repo",
    "mark_resolved": ".resolve",
    "branch_name": ".slug",
    "slugify": ".slug",
    "RemoveResult": ".worktrees",
    "WorktreeInfo": ".worktrees",
    "create_worktree": ".worktrees",
    "remove_worktree": ".worktrees",
}


def __getattr__(name: str) -> Any:
    """The package imports its parts on first use (PEP 562): `ampsm new` needs the worktree
    functions, not diffs, integration, clean-up and safekeeping."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    qualified = f"{__name__}{module}"
    __import__(qualified)  # not importlib: it imports `warnings`, a millisecond of each lean command
    value = getattr(sys.modules[qualified], name)
    globals()[name] = value
    return value


__all__ = [
    "BOOKKEEPING_DIR",
    "ArchiveResult",
    "CleanReport",
    "CommitInfo",
    "CommitResult",
    "FileDiff",
    "IntegrationResult",
    "LockTimeout",
    "Orphan",
    "RemoveResult",
    "RepoLock",
    "WorktreeInfo",
    "abort_operation",
    "archive_work",
    "branch_name",
    "clean",
    "commit_iteration",
    "continue_operation",
    "create_worktree",
    "current_operation",
    "default_base",
    "diff_files",
    "dirty_paths",
    "find_orphans",
    "last_iteration_diff",
    "mark_resolved",
    "merge",
    "merge_base",
    "rebase",
    "remove_worktree",
    "repo_paths",
    "repo_root",
    "restore_tip",
    "session_commits",
    "session_diff",
    "slugify",
    "squash",
    "validate_repo",
]
