"""Marking one conflicting file resolved while a kept merge/rebase waits for the user.

The conflict view used to run `git add` itself; here it takes the repo lock like every other git
writer, finds where the session's kept operation waits (its worktree, the base checkout or the
temporary merge worktree) and refuses a file that still holds conflict markers, so "resolved"
can never stage a half-edited file.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from ..errors import AmpsmError, ErrorCode, UsageError
from .integrate import _has_markers, _locate
from .locks import RepoLock
from .repo import conflicted_paths
from .runner import git


async def mark_resolved(
    repo: Path | str, worktree: Path | str | None, path: str, *, lock_timeout: float = 60.0
) -> Path:
    """Stage `path` (relative to where the operation waits) as resolved; returns that place.

    UsageError for a path outside the checkout, one that is not conflicting, or one that still holds
    `<<<<<<<`/`>>>>>>>` markers; E001 when no merge or rebase is in progress."""
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise UsageError(f"{path!r} is not a path inside the checkout")
    async with RepoLock(Path(repo), lock_timeout, purpose="mark resolved"):
        found = await _locate(repo, worktree)
        if found is None:
            raise AmpsmError(ErrorCode.GIT, f"nothing to resolve in {worktree or repo}: no merge or rebase in progress")
        where = Path(found)
        unmerged = await conflicted_paths(where)
        if str(rel) not in unmerged:
            raise UsageError(f"{path} is not a conflicting file here ({', '.join(unmerged) or 'none left'})")
        if _has_markers(where / rel):
            raise UsageError(f"{path} still holds conflict markers (<<<<<<< / >>>>>>>): edit it first")
        await git("add", "--", f":(literal){rel}", cwd=where)
        return where
