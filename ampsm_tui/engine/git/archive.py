"""Never lose work (lesson 19): before a worktree or branch goes, keep what is not kept elsewhere.

Unmerged commits and uncommitted changes are kept under `refs/ampsm/archive/<session-id>`: the ref
points at the branch tip or, when there were uncommitted changes, at a commit of that state whose
parent is the tip. The snapshot is made through a temporary index, so the worktree, its index and
its branch are not touched while it is made.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .repo import BOOKKEEPING_DIR, repo_paths
from .runner import git, git_out, split_z
from .slug import slugify

ARCHIVE_PREFIX = "refs/ampsm/archive/"


@dataclass(frozen=True)
class ArchiveResult:
    ref: str | None  # where the work was kept; None when nothing needed keeping
    tip: str | None  # the branch tip (or the snapshot of a loose directory)
    wip_sha: str | None  # the commit of uncommitted changes, if there were any

    @property
    def restore_hint(self) -> str:
        if self.ref is None:
            return "nothing to restore: all work was merged or empty"
        hint = f"restore with `git branch <name> {self.ref}`"
        if self.wip_sha:
            hint += " (its last commit holds the changes that were not committed)"
        return hint


async def snapshot_uncommitted(worktree: Path, message: str) -> str | None:
    """A commit (parent HEAD) of the worktree's tracked and untracked non-ignored files, or None when
    the worktree matches HEAD. Nothing in the worktree, its index or its refs changes."""
    index = Path(await git_out("rev-parse", "--path-format=absolute", "--git-path", "index", cwd=worktree))
    head = await git_out("rev-parse", "--verify", "HEAD^{commit}", cwd=worktree)
    with tempfile.TemporaryDirectory(prefix="ampsm-snap-") as tmp:
        tmp_index = Path(tmp) / "index"
        if index.exists():
            shutil.copyfile(index, tmp_index)
        env = {"GIT_INDEX_FILE": str(tmp_index)}
        if not index.exists():
            await git("read-tree", "HEAD", cwd=worktree, env=env)
        await git("add", "-A", "--", ".", f":(exclude){BOOKKEEPING_DIR}", cwd=worktree, env=env)
        tree = await git_out("write-tree", cwd=worktree, env=env)
    if tree == await git_out("rev-parse", "HEAD^{tree}", cwd=worktree):
        return None
    return await git_out("commit-tree", tree, "-p", head, "-m", message, cwd=worktree)


async def snapshot_directory(repo: Path, directory: Path, message: str) -> str | None:
    """A parentless commit of every non-ignored file in a loose directory (one that is not a git
    worktree, e.g. left by a failed creation), or None when it holds no files."""
    common = (await repo_paths(repo)).common_dir
    with tempfile.TemporaryDirectory(prefix="ampsm-snap-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "GIT_WORK_TREE": str(directory), "GIT_DIR": str(common)}
        await git("read-tree", "--empty", cwd=repo, env=env)
        await git("add", "-A", "--", ".", cwd=directory, env=env)
        listed = await git("ls-files", "-z", cwd=directory, env=env)
        if not split_z(listed.stdout):
            return None
        tree = await git_out("write-tree", cwd=directory, env=env)
    return await git_out("commit-tree", tree, "-m", message, cwd=repo)


async def contained_elsewhere(repo: Path, sha: str, *, except_branch: str | None = None) -> bool:
    """Whether some other branch, tag or remote-tracking branch already holds commit `sha`."""
    res = await git(
        "for-each-ref",
        "--contains",
        sha,
        "--format=%(refname)",
        "refs/heads/",
        "refs/tags/",
        "refs/remotes/",
        cwd=repo,
    )
    mine = f"refs/heads/{except_branch}" if except_branch else None
    return any(ref and ref != mine for ref in res.stdout.splitlines())


async def _free_archive_ref(repo: Path, session_id: str, sha: str) -> str:
    base = ARCHIVE_PREFIX + (session_id if _ref_safe(session_id) else slugify(session_id))
    for n in range(1, 1000):
        ref = base if n == 1 else f"{base}-{n}"
        res = await git("rev-parse", "--verify", "--quiet", ref, cwd=repo, check=False)
        if not res.ok or res.out == sha:
            return ref
    raise RuntimeError("no free archive ref")  # pragma: no cover - a thousand archives of one id


def _ref_safe(session_id: str) -> bool:
    from .slug import is_safe_session_id

    return is_safe_session_id(session_id)


async def archive_work(
    repo: Path, session_id: str, *, worktree: Path | None = None, branch: str | None = None
) -> ArchiveResult:
    """Keep the session's unmerged commits and uncommitted changes under an archive ref.

    Call it with the repo lock held, before removing the worktree or deleting the branch.
    """
    root = (await repo_paths(repo)).root
    tip: str | None = None
    if worktree is not None and (worktree / ".git").exists():
        tip = await git_out("rev-parse", "--verify", "HEAD^{commit}", cwd=worktree)
    elif branch is not None:
        res = await git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", cwd=root, check=False)
        tip = res.out if res.ok else None
    wip: str | None = None
    if worktree is not None and (worktree / ".git").exists():
        wip = await snapshot_uncommitted(worktree, f"ampsm: uncommitted state of session {session_id}")
    elif worktree is not None and worktree.is_dir():
        wip = await snapshot_directory(root, worktree, f"ampsm: files left in {worktree.name} ({session_id})")
        tip = None
    keep = wip
    if keep is None and tip is not None and not await contained_elsewhere(root, tip, except_branch=branch):
        keep = tip
    if keep is None:
        return ArchiveResult(ref=None, tip=tip, wip_sha=None)
    ref = await _free_archive_ref(root, session_id, keep)
    await git("update-ref", "-m", f"ampsm: archive {session_id}", ref, keep, cwd=root)
    return ArchiveResult(ref=ref, tip=tip, wip_sha=wip)
