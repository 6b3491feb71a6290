"""Session worktrees: `<repo>/.worktrees/<session-id>/` on a new branch `amp/<slug>/<stamp>`.

The worktree is made from the base ref directly (lesson 5): nothing in the user's main checkout is
switched, pulled or checked out. A failed creation leaves nothing behind (E004).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from ..clock import utcnow
from ..errors import AmpsmError, ErrorCode
from .archive import ArchiveResult, archive_work
from .locks import RepoLock
from .repo import (
    BOOKKEEPING_DIR,
    branches_by_files,
    current_branch,
    current_operation,
    remember_worktree,
    repo_paths,
    validate_repo,
)
from .runner import GitError, git
from .slug import branch_name, is_safe_session_id, valid_branch_name

#: git config keys on the session branch, so clean-up can tell whose branch it is without the DB.
SESSION_KEY = "ampsmSession"
BASE_KEY = "ampsmBase"


class WorktreeInfo(NamedTuple):
    path: Path
    branch: str
    base_branch: str
    base_sha: str
    session_id: str


class RemoveResult(NamedTuple):
    removed_worktree: bool
    deleted_branch: bool
    archive: ArchiveResult


def worktrees_root(root: Path, worktree_dir: str | Path = ".worktrees") -> Path:
    wd = Path(worktree_dir).expanduser()
    return wd if wd.is_absolute() else root / wd


async def ensure_excluded(common_dir: Path, root: Path, folder: Path) -> None:
    """Keep `folder` out of the user's `git status` through `.git/info/exclude` (never their
    `.gitignore`)."""
    try:
        rel = folder.resolve().relative_to(root.resolve())
    except ValueError:
        return  # outside the checkout: nothing to hide
    line = f"/{rel.as_posix()}/"
    exclude = common_dir / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    text = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
    if line in text.splitlines():
        return
    prefix = "" if not text or text.endswith("\n") else "\n"
    with exclude.open("a", encoding="utf-8") as fh:
        fh.write(f"{prefix}# ampsm session worktrees\n{line}\n")


async def _branch_refs(root: Path, base: str, name: str, common: Path | None = None) -> dict[str, str]:
    """Every ref `create_worktree` must know about: the base branch and the session branches of
    this name (`amp/<slug>` and everything under it). Read from git's ref files when they can tell
    (`common`: the repository's git dir), else in one `git for-each-ref`."""
    prefix = branch_name(name, datetime(2000, 1, 1)).rsplit("/", 1)[0]
    if common is not None and (known := branches_by_files(common, base, prefix)) is not None:
        return known
    res = await git(
        "for-each-ref",
        "--format=%(objectname) %(refname)",
        f"refs/heads/{base}",
        f"refs/heads/{prefix}",
        cwd=root,
    )
    refs: dict[str, str] = {}
    for line in res.stdout.splitlines():
        sha, _, ref = line.partition(" ")
        refs[ref.removeprefix("refs/heads/")] = sha
    return refs


def _free_branch(name: str, moment: datetime, taken: dict[str, str]) -> str:
    for n in range(1, 10_000):
        candidate = branch_name(name, moment, n)
        if candidate in taken:
            continue
        if not valid_branch_name(candidate):
            raise AmpsmError(ErrorCode.WORKTREE, f"cannot make a valid branch name from {name!r}")
        # `amp/x/20250101-000000` cannot exist when `amp/x` is a branch (a ref is a file or a dir)
        parent = candidate.rsplit("/", 1)[0]
        if parent in taken:
            raise AmpsmError(ErrorCode.WORKTREE, f"a branch named {parent!r} blocks session branches for {name!r}")
        return candidate
    raise AmpsmError(ErrorCode.WORKTREE, f"no free branch name for {name!r}")  # pragma: no cover


async def create_worktree(
    repo: Path | str,
    session_id: str,
    name: str,
    base: str,
    *,
    worktree_dir: str | Path = ".worktrees",
    lock_timeout: float = 60.0,
    default_base: bool = False,
) -> WorktreeInfo:
    """Make the session's worktree and branch from `base` (E001 bad repo/base, E004 failure).

    `default_base`: `base` is the configured default, not the user's choice; when the repo has no
    such branch, the branch checked out in the main checkout is used (a `master` repo works
    without configuration). Checked here, in the one `for-each-ref` this needs anyway, rather than
    with a git process of its own before."""
    if not is_safe_session_id(session_id):
        raise AmpsmError(ErrorCode.WORKTREE, f"unsafe session id {session_id!r}")
    paths = await validate_repo(repo)
    root, common = paths.root, paths.common_dir
    folder = worktrees_root(root, worktree_dir)
    target = folder / session_id
    try:
        lock = RepoLock(root, lock_timeout, purpose=f"create {session_id}")
        await lock.__aenter__()
    except AmpsmError as exc:
        raise AmpsmError(ErrorCode.WORKTREE, f"cannot create worktree: {exc.message}") from exc
    try:
        refs = await _branch_refs(root, base, name, common)
        base_sha = refs.get(base)
        if base_sha is None and default_base:
            head = await current_branch(root)
            if not head:
                raise AmpsmError(ErrorCode.GIT, f"base branch {base!r} does not exist in {root}; pass --base")
            base = head
            refs = await _branch_refs(root, base, name, common)
            base_sha = refs.get(base)
        if base_sha is None:
            raise AmpsmError(ErrorCode.GIT, f"base branch {base!r} does not exist in {root}")
        if target.exists():
            raise AmpsmError(ErrorCode.WORKTREE, f"worktree path already exists: {target}")
        branch = _free_branch(name, utcnow(), refs)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            await ensure_excluded(common, root, folder)
            await git("worktree", "add", "--quiet", "--no-track", "-b", branch, target, base_sha, cwd=root)
            await git("config", f"branch.{branch}.{SESSION_KEY}", session_id, cwd=root)
            await git("config", f"branch.{branch}.{BASE_KEY}", base, cwd=root)
            remember_worktree(target, paths)
        except (GitError, OSError) as exc:
            await _undo_create(root, target, branch)
            raise AmpsmError(ErrorCode.WORKTREE, f"worktree creation failed for {target}: {exc}") from exc
        except BaseException:  # cancelled or interrupted: nothing left behind either
            await _undo_create(root, target, branch)
            raise
        return WorktreeInfo(path=target, branch=branch, base_branch=base, base_sha=base_sha, session_id=session_id)
    finally:
        await lock.__aexit__(None, None, None)


async def _undo_create(root: Path, target: Path, branch: str) -> None:
    await git("worktree", "remove", "--force", "--force", target, cwd=root, check=False)
    if target.exists():
        import shutil

        shutil.rmtree(target, ignore_errors=True)
    await git("worktree", "prune", cwd=root, check=False)
    await git("branch", "-D", "--", branch, cwd=root, check=False)


async def remove_worktree(
    repo: Path | str,
    worktree: Path | str | None,
    branch: str | None,
    *,
    session_id: str | None = None,
    force: bool = False,
    delete_branch: bool = True,
    lock_timeout: float = 60.0,
    merged_tip: str | None = None,
) -> RemoveResult:
    """Remove a session's worktree (and branch), first keeping unmerged or uncommitted work under
    `refs/ampsm/archive/<session-id>` (lesson 19). A worktree in the middle of a merge or rebase is
    refused unless `force`, which aborts that operation first. `merged_tip`: a commit the caller has
    just merged into the base branch (a tip equal to it needs no search for other branches)."""
    paths = await repo_paths(repo)
    root = paths.root
    wt = Path(worktree) if worktree is not None else None
    sid = session_id or (wt.name if wt is not None else (branch or "session").replace("/", "-"))
    async with RepoLock(root, lock_timeout, purpose=f"remove {sid}"):
        if wt is not None and (wt / ".git").exists():
            op = await current_operation(wt)
            if op:
                if not force:
                    raise AmpsmError(ErrorCode.GIT, f"worktree {wt} is in the middle of a {op}; abort it first")
                await git(op, "--abort", cwd=wt, check=False)
        archived = await archive_work(root, sid, worktree=wt, branch=branch, merged_tip=merged_tip)
        removed = False
        tidy = True  # `git worktree remove` leaves no administrative files behind when it succeeds
        if wt is not None and wt.exists():
            res = await git("worktree", "remove", "--force", "--force", wt, cwd=root, check=False)
            if wt.exists():  # not a registered worktree (a loose directory): its files are archived
                import shutil

                shutil.rmtree(wt)
            removed = res.ok or not wt.exists()
            tidy = res.ok
        if not tidy or wt is None or not removed:
            await git("worktree", "prune", cwd=root, check=False)
        deleted = False
        if branch and delete_branch:  # `branch -D` of a branch that is gone fails, and says so
            res = await git("branch", "-D", "--", branch, cwd=root, check=False)
            deleted = res.ok
        return RemoveResult(removed_worktree=removed, deleted_branch=deleted, archive=archived)


__all__ = [
    "BOOKKEEPING_DIR",
    "RemoveResult",
    "WorktreeInfo",
    "create_worktree",
    "ensure_excluded",
    "remove_worktree",
    "worktrees_root",
]
