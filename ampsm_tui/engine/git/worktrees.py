"""Session worktrees: `<repo>/.worktrees/<session-id>/` on a new branch `amp/<slug>/<stamp>`.

The worktree is made from the base ref directly (lesson 5): nothing in the user's main checkout is
switched, pulled or checked out. A failed creation leaves nothing behind (E004).
"""

from __future__ import annotations

import os

from ..clock import stamp
from ..errors import AmpsmError, ErrorCode
from .archive import ArchiveResult, archive_work
from .configfile import add_branch_section, remove_branch_section
from .locks import RepoLock
from .repo import (
    BOOKKEEPING_DIR,
    RepoPaths,
    branches_by_files,
    checkouts_of,
    current_branch,
    current_operation,
    join,
    real,
    remember_worktree,
    repo_paths,
    validate_repo,
)
from .runner import GitError, gather_all, git
from .slug import branch_name, is_safe_session_id, valid_branch_name

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from typing import NamedTuple

    from .runner import StrPath
else:
    from ..lite import NamedTuple

#: git config keys on the session branch, so clean-up can tell whose branch it is without the DB.
SESSION_KEY = "ampsmSession"
BASE_KEY = "ampsmBase"


class WorktreeInfo(NamedTuple):
    path: str  # absolute
    branch: str
    base_branch: str
    base_sha: str
    session_id: str


class RemoveResult(NamedTuple):
    removed_worktree: bool
    deleted_branch: bool
    archive: ArchiveResult


def worktrees_root(root: StrPath, worktree_dir: StrPath = ".worktrees") -> str:
    """Where the sessions' worktrees of the repository at `root` go (`worktree_dir` relative to it,
    or absolute)."""
    wd = os.path.normpath(os.path.expanduser(os.fspath(worktree_dir)))
    return wd if os.path.isabs(wd) else os.path.normpath(join(os.fspath(root), wd))


async def ensure_excluded(common_dir: StrPath, root: StrPath, folder: StrPath) -> None:
    """Keep `folder` out of the user's `git status` through `.git/info/exclude` (never their
    `.gitignore`)."""
    inside, top = real(folder), real(root)
    if inside != top and not inside.startswith(top.rstrip("/") + "/"):
        return  # outside the checkout: nothing to hide
    line = f"/{os.path.relpath(inside, top)}/"
    exclude = join(os.fspath(common_dir), "info", "exclude")
    os.makedirs(os.path.dirname(exclude), exist_ok=True)
    text = ""
    if os.path.exists(exclude):
        with open(exclude, encoding="utf-8") as fh:
            text = fh.read()
    if line in text.splitlines():
        return
    prefix = "" if not text or text.endswith("\n") else "\n"
    with open(exclude, "a", encoding="utf-8") as fh:
        fh.write(f"{prefix}# ampsm session worktrees\n{line}\n")


async def _branch_refs(root: str, base: str, name: str, common: str | None = None) -> dict[str, str]:
    """Every ref `create_worktree` must know about: the base branch and the session branches of
    this name (`amp/<slug>` and everything under it). Read from git's ref files when they can tell
    (`common`: the repository's git dir), else in one `git for-each-ref`."""
    prefix = branch_name(name, "20000101-000000").rsplit("/", 1)[0]
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


def _free_branch(name: str, moment: str, taken: dict[str, str]) -> str:
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
    repo: StrPath,
    session_id: str,
    name: str,
    base: str,
    *,
    worktree_dir: StrPath = ".worktrees",
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
    target = join(folder, session_id)
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
        if os.path.exists(target):
            raise AmpsmError(ErrorCode.WORKTREE, f"worktree path already exists: {target}")
        branch = _free_branch(name, stamp(), refs)
        try:
            os.makedirs(folder, exist_ok=True)
            await ensure_excluded(common, root, folder)
            await git("worktree", "add", "--quiet", "--no-track", "-b", branch, target, base_sha, cwd=root)
            await mark_branch(root, common, branch, session_id, base)
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


async def mark_branch(root: StrPath, common: StrPath, branch: str, session_id: str, base: str) -> None:
    """The two keys that make `branch` a session's: written into the config file in one step where
    that is plain (configfile.py), else by `git config`, one process per key."""
    keys = {SESSION_KEY: session_id, BASE_KEY: base}
    if not add_branch_section(join(os.fspath(common), "config"), branch, keys):
        for key, value in keys.items():
            await git("config", f"branch.{branch}.{key}", value, cwd=root)


async def _undo_create(root: str, target: str, branch: str) -> None:
    await git("worktree", "remove", "--force", "--force", target, cwd=root, check=False)
    if os.path.exists(target):
        import shutil

        shutil.rmtree(target, ignore_errors=True)
    await git("worktree", "prune", cwd=root, check=False)
    await git("branch", "-D", "--", branch, cwd=root, check=False)


async def remove_worktree(
    repo: StrPath,
    worktree: StrPath | None,
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
    wt = os.fspath(worktree) if worktree is not None else None
    sid = session_id or (os.path.basename(wt) if wt is not None else (branch or "session").replace("/", "-"))
    async with RepoLock(root, lock_timeout, purpose=f"remove {sid}"):
        if wt is not None and os.path.exists(join(wt, ".git")):
            op = await current_operation(wt)
            if op:
                if not force:
                    raise AmpsmError(ErrorCode.GIT, f"worktree {wt} is in the middle of a {op}; abort it first")
                await git(op, "--abort", cwd=wt, check=False)
        archived = await archive_work(root, sid, worktree=wt, branch=branch, merged_tip=merged_tip)
        deleted = False
        if branch and delete_branch and wt is not None and _checked_out_only_in(paths, branch, wt):
            # the branch's ref goes beside the worktree (nothing else has it checked out): a git
            # process fewer on the way of every merge
            (removed, tidy), deleted = await gather_all(_remove_dir(root, wt), _drop_branch(paths, branch))
        else:
            removed, tidy = await _remove_dir(root, wt)
        if not tidy or wt is None or not removed:
            await git("worktree", "prune", cwd=root, check=False)
        if branch and delete_branch and not deleted:  # `branch -D` of a branch that is gone fails, and says so
            res = await git("branch", "-D", "--", branch, cwd=root, check=False)
            deleted = res.ok
        return RemoveResult(removed_worktree=removed, deleted_branch=deleted, archive=archived)


async def _remove_dir(root: str, wt: str | None) -> tuple[bool, bool]:
    """`git worktree remove` (a loose directory: deleted, its files archived before). Whether the
    worktree is gone, and whether git left no administrative files behind (else: prune)."""
    if wt is None or not os.path.exists(wt):
        return False, True
    res = await git("worktree", "remove", "--force", "--force", wt, cwd=root, check=False)
    if os.path.exists(wt):  # not a registered worktree (a loose directory): its files are archived
        import shutil

        shutil.rmtree(wt)
    return res.ok or not os.path.exists(wt), res.ok


def _checked_out_only_in(paths: RepoPaths, branch: str, wt: str) -> bool:
    """git's files show `branch` checked out nowhere but in `wt` (`git branch -D` refuses a branch
    checked out elsewhere: that is then left to it)."""
    found = checkouts_of(paths, branch)
    here = real(wt)
    return found is not None and all(real(place) == here for place in found)


async def _drop_branch(paths: RepoPaths, branch: str) -> bool:
    """What `git branch -D` does, for a branch no other worktree has checked out: the ref deleted
    at the commit git's files name (with its reflog), then its config section. False, and nothing
    changed, when the files cannot tell or the ref moved: `git branch -D` decides then."""
    known = branches_by_files(paths.common_dir, branch)
    sha = known.get(branch) if known else None
    if sha is None:
        return False
    res = await git("update-ref", "-d", f"refs/heads/{branch}", sha, cwd=paths.root, check=False)
    if not res.ok:
        return False
    if not remove_branch_section(join(paths.common_dir, "config"), branch):
        await git("config", "--remove-section", f"branch.{branch}", cwd=paths.root, check=False)
    return True


__all__ = [
    "BOOKKEEPING_DIR",
    "RemoveResult",
    "WorktreeInfo",
    "create_worktree",
    "ensure_excluded",
    "remove_worktree",
    "worktrees_root",
]
