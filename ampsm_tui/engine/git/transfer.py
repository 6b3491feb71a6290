"""Moving a repository's refs between machines with git bundles (the Ray executor's transport).

A bundle is one file holding refs and their objects: the driver ships the base branch to a worker
in one, the worker ships the session branch back in another, and neither side needs network access
to the other's repository (a path, an origin URL, credentials). Only the session branch comes back,
never the worker's other refs.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import AmpsmError, ErrorCode
from .locks import RepoLock
from .repo import repo_paths
from .runner import git
from .worktrees import BASE_KEY, SESSION_KEY, ensure_excluded, worktrees_root


async def bundle_branch(repo: Path, branch: str, out: Path, *, exclude: str | None = None) -> bool:
    """Write `branch` (its commits not reachable from `exclude`) to the bundle `out`; False when
    there is nothing to ship (the branch adds no commit to `exclude`)."""
    if exclude is not None:
        tip = (await git("rev-parse", f"refs/heads/{branch}", cwd=repo)).stdout.strip()
        if tip == exclude:
            return False
    spec = [f"refs/heads/{branch}", *([f"^{exclude}"] if exclude else [])]
    await git("bundle", "create", "--quiet", out, *spec, cwd=repo)
    return True


async def clone_bundle(bundle: Path, branch: str, dest: Path) -> str:
    """Clone `branch` out of a bundle into `dest`; returns the tip's sha."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    await git("clone", "--quiet", "--branch", branch, "--single-branch", bundle, dest, cwd=dest.parent)
    return (await git("rev-parse", "HEAD", cwd=dest)).stdout.strip()


async def receive_session_branch(
    repo: Path,
    *,
    bundle: Path | None,
    branch: str,
    tip: str,
    base_branch: str,
    session_id: str,
    worktree_dir: str,
    lock_timeout: float,
) -> Path:
    """Bring a session branch made elsewhere into `repo` (from its bundle, or at `tip` when the
    session committed nothing) and check it out in the session's worktree, tagged like a local
    session's branch: the session is then reviewed and landed like any other. E004 when the branch
    already exists here (never overwritten)."""
    paths = await repo_paths(repo)
    root = Path(paths.root)
    target = Path(worktrees_root(root, worktree_dir)) / session_id
    async with RepoLock(root, lock_timeout, purpose=f"receive {session_id}"):
        exists = await git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=root, check=False)
        if exists.returncode == 0:
            raise AmpsmError(ErrorCode.WORKTREE, f"branch {branch} already exists in {root}; not overwritten")
        if bundle is not None:
            await git("fetch", "--quiet", "--no-tags", bundle, f"refs/heads/{branch}:refs/heads/{branch}", cwd=root)
        else:
            await git("branch", "--no-track", branch, tip, cwd=root)
        got = (await git("rev-parse", f"refs/heads/{branch}", cwd=root)).stdout.strip()
        if got != tip:
            raise AmpsmError(ErrorCode.GIT, f"branch {branch} arrived at {got[:12]}, expected {tip[:12]}")
        target.parent.mkdir(parents=True, exist_ok=True)
        await ensure_excluded(paths.common_dir, root, target.parent)
        await git("worktree", "add", "--quiet", target, branch, cwd=root)
        await git("config", f"branch.{branch}.{SESSION_KEY}", session_id, cwd=root)
        await git("config", f"branch.{branch}.{BASE_KEY}", base_branch, cwd=root)
    return target
