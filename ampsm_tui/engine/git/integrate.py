"""Squash, rebase and merge a session branch, and the continue/abort of a conflicted operation.

Rules (SPEC "Git rules", lessons 4 and 11):
- squash works against the merge-base and never changes the tree (nothing is reverted);
- a conflicting rebase or merge is aborted and its files reported, unless the caller keeps it for
  resolution; `continue_operation` and `abort_operation` finish it, never waiting on an editor;
- the user's main checkout is touched only by `merge`, only when it has the base branch checked out
  and is clean; otherwise the base ref is moved without touching any checkout (fast-forward) or the
  merge is made in a temporary worktree.
"""

from __future__ import annotations

import os

from ..errors import AmpsmError, ErrorCode
from .commits import (
    FALLBACK_IDENTITY,
    SESSION_TRAILER,
    CommitInfo,
    commits_between,
    identity_options,
    known_identity,
    linear_range,
    session_of,
)
from .diffs import merge_base
from .locks import RepoLock
from .repo import (
    branches_by_files,
    checkout_of,
    conflicted_paths,
    current_branch,
    current_operation,
    join,
    require_clean,
    require_no_operation,
    rev,
    validate_repo,
    worktree_branches,
)
from .runner import GitError, gather_all, git, git_bytes, git_out

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from typing import overload

    from ..config import MergeMode, SquashManual
    from .runner import StrPath
else:
    from ..lite import overload

MERGE_MARKER = "ampsm-merge-target"


class IntegrationResult:
    """What a rebase or merge did. A plain class (it is updated after the fact, so not a NamedTuple):
    `dataclasses` imports `inspect`, which was a seventh of `ampsm merge`'s start-up."""

    __slots__ = (
        "already_merged",
        "base_before",
        "conflicts",
        "fast_forward",
        "in_progress",
        "merged_tip",
        "message",
        "ok",
        "operation",
        "path",
        "sha",
    )

    def __init__(
        self,
        ok: bool,
        operation: str,  # "rebase" or "merge"
        sha: str | None = None,  # the branch (rebase) or base (merge) tip afterwards
        conflicts: list[str] | None = None,
        in_progress: bool = False,  # the conflict was kept for resolution at `path`
        path: str | None = None,  # where the operation ran (and, when in progress, waits)
        fast_forward: bool = False,
        already_merged: bool = False,
        message: str = "",
        base_before: str | None = None,  # merge: the base branch's tip before it, read under the lock
        merged_tip: str | None = None,  # merge: the session branch tip now held by the base branch
    ) -> None:
        self.ok = ok
        self.operation = operation
        self.sha = sha
        self.conflicts: list[str] = conflicts if conflicts is not None else []
        self.in_progress = in_progress
        self.path = path
        self.fast_forward = fast_forward
        self.already_merged = already_merged
        self.message = message
        self.base_before = base_before
        self.merged_tip = merged_tip

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"IntegrationResult({shown})"


# ---------------------------------------------------------------- squash


def _leading_repo(args: tuple[StrPath, ...], n: int) -> tuple[str, ...]:
    """The last `n` positional arguments; an optional leading repo path (for symmetry with `merge`)
    is accepted and not needed, since a worktree knows its repository."""
    if len(args) not in (n, n + 1):
        raise TypeError(f"expected {n} or {n + 1} positional arguments, got {len(args)}")
    return tuple(os.fspath(a) for a in args[-n:])


async def _tree(cwd: StrPath, rev_: str) -> str:
    return await git_out("rev-parse", f"{rev_}^{{tree}}", cwd=cwd)


async def _apply(cwd: StrPath, onto_tree: str, frm: str, to: str) -> str | None:
    """The tree of applying the change `frm`..`to` to `onto_tree`, or None when it does not apply.
    Made in a temporary index: no checkout or index of the user's is touched."""
    import tempfile

    patch = await git_bytes("diff", "--binary", "--full-index", "--no-color", "--no-ext-diff", frm, to, cwd=cwd)
    with tempfile.TemporaryDirectory(prefix="ampsm-squash-") as tmp:
        env = {"GIT_INDEX_FILE": join(tmp, "index")}
        await git("read-tree", onto_tree, cwd=cwd, env=env)
        if patch.strip():
            res = await git("apply", "--cached", "--whitespace=nowarn", "-", cwd=cwd, env=env, input=patch, check=False)
            if not res.ok:
                return None
        return await git_out("write-tree", cwd=cwd, env=env)


async def _author_env(cwd: StrPath, sha: str) -> dict[str, str]:
    out = await git_out("log", "-1", "--format=%an%x00%ae%x00%aI", sha, cwd=cwd)
    name, email, date = out.split("\x00")
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date}


async def _commit_tree(cwd: StrPath, tree: str, parent: str, message: str, env: dict[str, str] | None = None) -> str:
    """`git commit-tree`. As with iteration commits (`commits._commit`), the identity is asked about
    only when git refuses for want of one: two `git var` processes fewer per squash."""
    argv = ("commit-tree", tree, "-p", parent, "-F", "-")
    known = known_identity(cwd)
    res = await git(*(known or ()), *argv, cwd=cwd, input=message, env=env, check=False)
    if not res.ok and known is None and await identity_options(cwd):
        res = await git(*FALLBACK_IDENTITY, *argv, cwd=cwd, input=message, env=env, check=False)
    if not res.ok:
        raise GitError(res)
    return res.out


async def _replay(cwd: StrPath, parent: str, commits: list[CommitInfo]) -> str | None:
    """Re-create `commits` (author, date and message kept) on top of `parent`; None on conflict."""
    for c in commits:
        tree = await _apply(cwd, await _tree(cwd, parent), c.parents[0], c.sha)
        if tree is None:
            return None
        parent = await _commit_tree(cwd, tree, parent, c.message + "\n", await _author_env(cwd, c.sha))
    return parent


def squash_message(message: str, amp: list[CommitInfo]) -> str:
    text = message.strip() or "Squashed ampsm session"
    session = next((s for c in amp if (s := session_of(c.message))), None)
    if session and f"{SESSION_TRAILER}:" not in text:
        text += f"\n\n{SESSION_TRAILER}: {session}\nAmp-Squashed: {len(amp)}"
    return text + "\n"


@overload
async def squash(
    worktree: StrPath,
    base_branch: str,
    message: str,
    /,
    *,
    prefix: str = ...,
    manual: SquashManual = ...,
    lock_timeout: float = ...,
) -> str: ...
@overload
async def squash(
    repo: StrPath,
    worktree: StrPath,
    base_branch: str,
    message: str,
    /,
    *,
    prefix: str = ...,
    manual: SquashManual = ...,
    lock_timeout: float = ...,
) -> str: ...
async def squash(
    *args: StrPath,
    prefix: str = "amp:",
    manual: SquashManual = "keep",
    lock_timeout: float = 60.0,
) -> str:
    """Combine the session's `amp:` commits into one with `message`; manual commits are kept as
    their own commits before it (`keep`) or folded in (`fold`). Returns the new head sha. The tree
    after equals the tree before; commits that landed on the base meanwhile are not touched.
    Called as `squash(worktree, base, message)` or `squash(repo, worktree, base, message)`."""
    wt, base_branch, message = _leading_repo(args, 3)
    async with RepoLock(wt, lock_timeout, purpose="squash"):
        await require_no_operation(wt, "worktree")
        plan = await linear_range(wt, base_branch, prefix=prefix)  # one process where it can
        if plan is not None:
            head, head_tree, mb, commits = plan
        else:
            head, head_tree = (await git_out("rev-parse", "HEAD", "HEAD^{tree}", cwd=wt)).split()  # one process
            mb = await merge_base(wt, base_branch)
            commits = await commits_between(wt, mb, head, prefix=prefix)
        if any(len(c.parents) != 1 for c in commits):
            raise AmpsmError(ErrorCode.GIT, "the session branch holds merge commits; rebase it before squashing")
        amp = [c for c in commits if c.is_amp]
        manual_commits = [c for c in commits if not c.is_amp]
        if not amp:
            return head  # nothing of ampsm's to combine
        text = squash_message(message, amp)
        if manual == "fold" or not manual_commits:
            new = await _commit_tree(wt, head_tree, mb, text)  # HEAD's own tree: unchanged by construction
        else:
            new = await _squash_keeping_manual(wt, mb, head_tree, amp, manual_commits, text)
            if await _tree(wt, new) != head_tree:  # pragma: no cover - guarded by construction
                raise AmpsmError(ErrorCode.GIT, "squash would change the tree; nothing was changed")
        await git("update-ref", "-m", "ampsm: squash", "HEAD", new, head, cwd=wt)
        return new


async def _squash_keeping_manual(
    wt: StrPath, mb: str, head_tree: str, amp: list[CommitInfo], manual_commits: list[CommitInfo], text: str
) -> str:
    # The user's commits first, then one commit taking the tree to the final state.
    parent = await _replay(wt, mb, manual_commits)
    if parent is not None:
        if await _tree(wt, parent) == head_tree:
            return parent
        return await _commit_tree(wt, head_tree, parent, text)
    # The user's commits build on ampsm's: the squash first, the user's commits on top of it.
    tree: str | None = await _tree(wt, mb)
    for c in amp:
        tree = await _apply(wt, tree, c.parents[0], c.sha) if tree is not None else None
    if tree is not None:
        squashed = await _commit_tree(wt, tree, mb, text)
        top = await _replay(wt, squashed, manual_commits)
        if top is not None and await _tree(wt, top) == head_tree:
            return top
    raise AmpsmError(
        ErrorCode.GIT,
        "manual commits and amp: commits are interleaved on the same lines; cannot keep the manual commits "
        "separate (set git.squash_manual: fold to fold them in); nothing was changed",
    )


# ---------------------------------------------------------------- rebase


@overload
async def rebase(
    worktree: StrPath, onto: str, /, *, keep_conflict: bool = ..., lock_timeout: float = ...
) -> IntegrationResult: ...
@overload
async def rebase(
    repo: StrPath, worktree: StrPath, onto: str, /, *, keep_conflict: bool = ..., lock_timeout: float = ...
) -> IntegrationResult: ...
async def rebase(*args: StrPath, keep_conflict: bool = False, lock_timeout: float = 60.0) -> IntegrationResult:
    """Rebase the session branch onto `onto`. A conflict is aborted (branch, worktree and main as
    before) and its files reported, unless `keep_conflict`. Called as `rebase(worktree, onto)` or
    `rebase(repo, worktree, onto)`."""
    wt, onto = _leading_repo(args, 2)
    async with RepoLock(wt, lock_timeout, purpose="rebase"):
        await require_no_operation(wt, "worktree")
        await require_clean(wt, "worktree")
        target = await rev(wt, onto)
        if target is None:
            raise AmpsmError(ErrorCode.GIT, f"cannot rebase onto {onto!r}: no such branch or commit")
        before = await git_out("rev-parse", "HEAD", cwd=wt)
        ident = await identity_options(wt)
        res = await git(*ident, "rebase", "--quiet", "--no-autostash", "--no-update-refs", target, cwd=wt, check=False)
        if res.ok:
            return IntegrationResult(
                ok=True, operation="rebase", sha=await git_out("rev-parse", "HEAD", cwd=wt), path=wt
            )
        return await _conflict(wt, "rebase", before, keep_conflict, res.stderr or res.stdout)


async def _conflict(path: str, op: str, before: str, keep: bool, output: str) -> IntegrationResult:
    if await current_operation(path) is None:  # failed before it started: nothing changed
        raise AmpsmError(ErrorCode.GIT, f"git {op} failed in {path}: {output.strip()}", details=output)
    conflicts = await conflicted_paths(path)
    if keep:
        return IntegrationResult(
            ok=False, operation=op, sha=before, conflicts=conflicts, in_progress=True, path=path, message=output
        )
    await git(op, "--abort", cwd=path)
    return IntegrationResult(ok=False, operation=op, sha=before, conflicts=conflicts, path=path, message=output)


# ---------------------------------------------------------------- merge


async def merge(
    repo: StrPath,
    worktree: StrPath | None,
    branch: str,
    base_branch: str,
    *,
    mode: MergeMode = "ff",
    keep_conflict: bool = False,
    message: str | None = None,
    remove_after: bool = False,
    session_id: str | None = None,
    lock_timeout: float = 60.0,
) -> IntegrationResult:
    """Merge the session `branch` into `base_branch`: fast-forward when possible (mode `ff`), always a
    merge commit (`no-ff`), or fast-forward only (`ff-only`, E001 when not possible). Then, if
    `remove_after`, remove the session worktree and branch."""
    paths = await validate_repo(repo)
    root = paths.root
    async with RepoLock(root, lock_timeout, purpose=f"merge {branch}"):
        tip, base_sha = await _tips(root, branch, base_branch, paths.common_dir)
        found = checkout_of(paths, base_branch)
        checked_out: str | None
        if found is False:  # a file that cannot tell: ask git
            checked_out = next((p for p, b in (await worktree_branches(root)).items() if b == base_branch), None)
        else:
            checked_out = found
        # one `merge-base` tells both: the tip already in the base, or the base behind the tip
        if checked_out is not None:
            await require_no_operation(checked_out, "checkout")
            # the checkout's status beside the merge-base: two gits in the time of one
            _, common = await gather_all(
                require_clean(checked_out, "the checkout of the base branch"),
                git("merge-base", tip, base_sha, cwd=root, check=False),
            )
        else:
            common = await git("merge-base", tip, base_sha, cwd=root, check=False)
        merged, can_ff = common.ok and common.out == tip, common.ok and common.out == base_sha
        if merged:
            result = IntegrationResult(ok=True, operation="merge", sha=base_sha, already_merged=True)
        else:
            if mode == "ff-only" and not can_ff:
                raise AmpsmError(
                    ErrorCode.GIT,
                    f"{base_branch} cannot be fast-forwarded to {branch}; rebase the session onto {base_branch} first",
                )
            text = (message or f"Merge {branch} into {base_branch}").strip() + "\n"
            if checked_out is not None:
                fast = can_ff and mode != "no-ff"
                result = await _merge_in(checked_out, tip, mode, text, keep_conflict, base_sha, fast=fast)
            elif can_ff and mode != "no-ff":
                await git(
                    "update-ref",
                    "-m",
                    f"ampsm: fast-forward to {branch}",
                    f"refs/heads/{base_branch}",
                    tip,
                    base_sha,
                    cwd=root,
                )
                result = IntegrationResult(ok=True, operation="merge", sha=tip, fast_forward=True)
            else:
                result = await _merge_in_temporary(root, base_branch, tip, mode, text, keep_conflict, base_sha)
        result.base_before = base_sha
        if result.ok:
            result.merged_tip = tip
        if result.ok and remove_after and worktree is not None:
            from .worktrees import remove_worktree

            await remove_worktree(
                root, worktree, branch, session_id=session_id, lock_timeout=lock_timeout, merged_tip=tip
            )
        return result


async def _tips(root: str, branch: str, base_branch: str, common: str) -> tuple[str, str]:
    """The session branch's and the base branch's commits: from the ref files, else one `rev-parse`
    for both, or, when one is missing, the checks one by one to say which."""
    known = branches_by_files(common, branch, base_branch)
    if known is not None and branch in known and base_branch in known:
        return known[branch], known[base_branch]
    both = await git("rev-parse", f"refs/heads/{branch}^{{commit}}", f"refs/heads/{base_branch}^{{commit}}",
                     cwd=root, check=False)  # fmt: skip
    shas = both.stdout.split()
    if both.ok and len(shas) == 2:
        return shas[0], shas[1]
    base_sha = await rev(root, f"refs/heads/{base_branch}")
    if base_sha is None:
        raise AmpsmError(ErrorCode.GIT, f"base branch {base_branch!r} does not exist in {root}")
    tip = await rev(root, f"refs/heads/{branch}")
    if tip is None:
        raise AmpsmError(ErrorCode.GIT, f"session branch {branch!r} does not exist")
    return tip, base_sha


def _mode_flag(mode: MergeMode) -> str:
    return {"ff": "--ff", "no-ff": "--no-ff", "ff-only": "--ff-only"}[mode]


async def _merge_in(
    where: str,
    tip: str,
    mode: MergeMode,
    text: str,
    keep: bool,
    base_sha: str,
    *,
    temporary: bool = False,
    fast: bool = False,
) -> IntegrationResult:
    """`git merge` in `where`. `fast`: a fast-forward (the base is an ancestor of `tip`, mode not
    `no-ff`), which makes no commit: no identity to ask about, and the new tip is `tip`."""
    ident = () if fast else await identity_options(where)
    res = await git(
        *ident,
        "merge",
        "--quiet",
        "--no-verify",
        "--no-edit",
        _mode_flag(mode),
        "-m",
        text,
        tip,
        cwd=where,
        check=False,
    )
    if res.ok:
        sha = tip if fast else await git_out("rev-parse", "HEAD", cwd=where)
        return IntegrationResult(ok=True, operation="merge", sha=sha, path=where, fast_forward=sha == tip)
    result = await _conflict(where, "merge", base_sha, keep, res.stderr or res.stdout)
    if temporary and not result.in_progress:
        result.path = None
    return result


async def _merge_in_temporary(
    root: str, base_branch: str, tip: str, mode: MergeMode, text: str, keep: bool, base_sha: str
) -> IntegrationResult:
    """A merge commit for a base branch that no checkout has: made in a throw-away worktree on the
    base branch, removed afterwards (or kept, with the conflict, when asked)."""
    import tempfile

    place = join(tempfile.mkdtemp(prefix="ampsm-merge-"), "wt")
    await git("worktree", "add", "--quiet", place, base_branch, cwd=root)
    gitdir = await git_out("rev-parse", "--path-format=absolute", "--git-dir", cwd=place)
    with open(join(gitdir, MERGE_MARKER), "w") as fh:
        fh.write(base_branch + "\n")
    try:
        result = await _merge_in(place, tip, mode, text, keep, base_sha, temporary=True)
    except BaseException:
        await _drop_temporary(root, place)
        raise
    if not result.in_progress:
        await _drop_temporary(root, place)
    return result


async def _drop_temporary(root: StrPath, place: str) -> None:
    await git("worktree", "remove", "--force", "--force", place, cwd=root, check=False)
    import shutil

    shutil.rmtree(os.path.dirname(place), ignore_errors=True)
    await git("worktree", "prune", cwd=root, check=False)


async def _temporary_marker(path: StrPath) -> bool:
    gitdir = await git_out("rev-parse", "--path-format=absolute", "--git-dir", cwd=path)
    return os.path.exists(join(gitdir, MERGE_MARKER))


# ---------------------------------------------------------------- continue / abort


def _has_markers(file: StrPath) -> bool:
    try:
        with open(file, "rb") as fh:
            data = fh.read()
    except (FileNotFoundError, IsADirectoryError):
        return False
    return any(line.startswith((b"<<<<<<< ", b">>>>>>> ")) for line in data.splitlines())


async def _locate(path: StrPath, worktree: StrPath | None) -> str | None:
    """Where a kept operation waits: `path` alone; or, given the session `worktree`, the worktree
    itself, else the checkout or temporary worktree merging that worktree's tip."""
    if worktree is None:
        return os.fspath(path) if await current_operation(path) is not None else None
    if os.path.exists(worktree) and await current_operation(worktree) is not None:
        return os.fspath(worktree)
    tip = await rev(worktree, "HEAD") if os.path.exists(worktree) else None
    if tip is None:
        return None
    for place in await worktree_branches(path):
        if (
            os.path.exists(place)
            and await current_operation(place) == "merge"
            and await rev(place, "MERGE_HEAD") == tip
        ):
            return place
    return None


async def continue_operation(
    path: StrPath, worktree: StrPath | None = None, *, lock_timeout: float = 60.0
) -> IntegrationResult:
    """Finish a kept rebase/merge after the user resolved the files. Files still holding conflict
    markers are reported (nothing is committed); resolved files are staged for the user.
    `continue_operation(path)` works where the operation is; `continue_operation(repo, worktree)`
    finds it for the session (its worktree, the base checkout, or a temporary merge worktree)."""
    async with RepoLock(path, lock_timeout, purpose="continue"):
        found = await _locate(path, worktree)
        if found is None:
            raise AmpsmError(
                ErrorCode.GIT, f"nothing to continue in {worktree or path}: no merge or rebase in progress"
            )
        where = found
        op = await current_operation(where)
        assert op is not None
        unmerged = await conflicted_paths(where)
        still = [p for p in unmerged if _has_markers(join(where, p))]
        if still:
            return IntegrationResult(ok=False, operation=op, conflicts=still, in_progress=True, path=where)
        if unmerged:
            await git("add", "--all", "--", *(f":(literal){p}" for p in unmerged), cwd=where)
        ident = await identity_options(where)
        if op == "merge":
            res = await git(*ident, "commit", "--quiet", "--no-verify", "--no-edit", cwd=where, check=False)
        else:
            res = await git(*ident, op, "--continue", cwd=where, check=False)
        if not res.ok:
            conflicts = await conflicted_paths(where)
            if await current_operation(where) is not None and conflicts:  # the next commit conflicts too
                return IntegrationResult(
                    ok=False, operation=op, conflicts=conflicts, in_progress=True, path=where, message=res.stderr
                )
            raise AmpsmError(ErrorCode.GIT, f"git {op} --continue failed in {where}: {res.stderr.strip()}")
        sha = await git_out("rev-parse", "HEAD", cwd=where)
        result = IntegrationResult(ok=True, operation=op, sha=sha, path=where)
        if op == "merge" and await _temporary_marker(where):
            root = (await validate_repo(where)).root
            await _drop_temporary(root, where)
            result.path = None
        return result


async def abort_operation(path: StrPath, worktree: StrPath | None = None, *, lock_timeout: float = 60.0) -> bool:
    """Abort a kept rebase/merge: everything returns to how it was before it started. Arguments as
    for `continue_operation`; nothing in progress is not an error (returns False)."""
    async with RepoLock(path, lock_timeout, purpose="abort"):
        where = await _locate(path, worktree)
        if where is None:
            return False
        op = await current_operation(where)
        if op is not None:
            await git(op, "--abort", cwd=where)
        if os.path.exists(where) and await current_branch(where) is not None and await _temporary_marker(where):
            from .repo import repo_paths

            await _drop_temporary((await repo_paths(where)).root, where)
        return True


async def restore_tip(worktree: StrPath, sha: str, *, lock_timeout: float = 60.0) -> None:
    """Put the session branch back at `sha` (a tip recorded before a review started), so that aborting
    a later step leaves the branch as it was before the whole review, not half squashed. Refused
    while an operation is in progress or the worktree has uncommitted changes; the commits it
    leaves stay reachable from the reflog."""
    async with RepoLock(worktree, lock_timeout, purpose="restore"):
        await require_no_operation(worktree, "worktree")
        await require_clean(worktree, "worktree")
        if await rev(worktree, f"{sha}^{{commit}}") is None:
            raise AmpsmError(ErrorCode.GIT, f"cannot restore the branch: no commit {sha}")
        await git("reset", "--quiet", "--keep", sha, cwd=worktree)
