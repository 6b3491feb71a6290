"""Never lose work (lesson 19): before a worktree or branch goes, keep what is not kept elsewhere.

Unmerged commits and uncommitted changes are kept under `refs/ampsm/archive/<session-id>/<stamp>`:
the ref points at the branch tip or, when there were uncommitted changes, at a *snapshot* commit.

A snapshot is shaped like `git stash` makes it, so it can be put back exactly: its tree is the
worktree (tracked changes and untracked files that are not ignored), its first parent is the branch
tip, its second parent a commit of the index (what was staged). It is made through a temporary index
(`GIT_INDEX_FILE`), so the worktree, its real index and its branch are not touched while it is made.
The message carries an `Ampsm-Snapshot: <kind>` trailer, which is how a snapshot is told from a tip.
"""

from __future__ import annotations

import os

from ..clock import stamp
from .repo import BOOKKEEPING_DIR, join, repo_paths
from .runner import git, git_out, split_z
from .slug import slugify

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from typing import NamedTuple

    from .runner import StrPath
else:
    from ..lite import NamedTuple

ARCHIVE_PREFIX = "refs/ampsm/archive/"
CHECKPOINT_PREFIX = "refs/ampsm/checkpoints/"
SNAPSHOT_TRAILER = "Ampsm-Snapshot"


class ArchiveResult(NamedTuple):
    ref: str | None  # where the work was kept; None when nothing needed keeping
    tip: str | None  # the branch tip (or the snapshot of a loose directory)
    wip_sha: str | None  # the snapshot of uncommitted changes, if there were any
    session_id: str | None = None
    unmerged: bool = False  # the tip held commits found on no other branch, tag or remote

    @property
    def restore_hint(self) -> str:
        if self.ref is None:
            return "nothing to restore: all work was merged or empty"
        if self.session_id:
            return f"restore with `ampsm restore {self.session_id}` (or `git branch <name> {self.ref}`)"
        return f"restore with `git branch <name> {self.ref}`"

    def describe(self) -> str:
        """One line for a command's output: what was kept, and how to get it back."""
        if self.ref is None:
            return "nothing unmerged or uncommitted to keep"
        what = "unmerged commits" if self.unmerged else "work"
        if self.wip_sha:
            what = "uncommitted changes" + (" and unmerged commits" if self.unmerged else "")
        return f"kept {what} at {self.ref}; {self.restore_hint}"


def session_ref_part(session_id: str) -> str:
    from .slug import is_safe_session_id

    return session_id if is_safe_session_id(session_id) else slugify(session_id)


async def snapshot_state(worktree: StrPath, kind: str, message: str) -> str | None:
    """A snapshot commit of the worktree (parents: HEAD, then a commit of the index), or None when
    the worktree and the index both match HEAD. Nothing in the worktree, its index or refs changes."""
    # one rev-parse for the index path, HEAD and its tree (it fails, as --verify would, without HEAD)
    found = (
        await git_out("rev-parse", "--path-format=absolute", "--git-path", "index", "HEAD^{commit}", "HEAD^{tree}",
                      cwd=worktree)
    ).splitlines()  # fmt: skip
    index, head, head_tree = "\n".join(found[:-2]), found[-2], found[-1]  # shas last: any path is whole
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ampsm-snap-") as tmp:
        tmp_index = join(tmp, "index")
        if os.path.exists(index):
            shutil.copyfile(index, tmp_index)
        env = {"GIT_INDEX_FILE": tmp_index}
        if not os.path.exists(index):
            await git("read-tree", "HEAD", cwd=worktree, env=env)
        staged = await git("write-tree", cwd=worktree, env=env, check=False)  # fails mid-conflict
        index_tree = staged.out if staged.ok else head_tree
        await git("add", "-A", "--", ".", f":(exclude){BOOKKEEPING_DIR}", cwd=worktree, env=env)
        tree = await git_out("write-tree", cwd=worktree, env=env)
    if tree == head_tree and index_tree == head_tree:
        return None
    index_commit = await git_out("commit-tree", index_tree, "-p", head, "-m", f"index of {message}", cwd=worktree)
    body = f"{message}\n\n{SNAPSHOT_TRAILER}: {kind}\n"
    return await git_out("commit-tree", tree, "-p", head, "-p", index_commit, "-m", body, cwd=worktree)


async def snapshot_uncommitted(worktree: StrPath, message: str) -> str | None:
    """The snapshot made before a removal (kind `uncommitted`)."""
    return await snapshot_state(worktree, "uncommitted", message)


async def snapshot_directory(repo: StrPath, directory: StrPath, message: str) -> str | None:
    """A parentless commit of every non-ignored file in a loose directory (one that is not a git
    worktree, e.g. left by a failed creation), or None when it holds no files."""
    import tempfile

    common = (await repo_paths(repo)).common_dir
    with tempfile.TemporaryDirectory(prefix="ampsm-snap-") as tmp:
        env = {"GIT_INDEX_FILE": join(tmp, "index"), "GIT_WORK_TREE": os.fspath(directory), "GIT_DIR": common}
        await git("read-tree", "--empty", cwd=repo, env=env)
        await git("add", "-A", "--", ".", cwd=directory, env=env)
        listed = await git("ls-files", "-z", cwd=directory, env=env)
        if not split_z(listed.stdout):
            return None
        tree = await git_out("write-tree", cwd=directory, env=env)
    return await git_out("commit-tree", tree, "-m", message, cwd=repo)


async def contained_elsewhere(repo: StrPath, sha: str, *, except_branch: str | None = None) -> bool:
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


async def _free_archive_ref(repo: StrPath, session_id: str, sha: str) -> str:
    base = f"{ARCHIVE_PREFIX}{session_ref_part(session_id)}/{stamp()}"
    for n in range(1, 1000):
        ref = base if n == 1 else f"{base}-{n}"
        res = await git("rev-parse", "--verify", "--quiet", ref, cwd=repo, check=False)
        if not res.ok or res.out == sha:
            return ref
    raise RuntimeError("no free archive ref")  # pragma: no cover - a thousand archives in one second


async def checkpoint_of(root: StrPath, session_id: str, tip: str | None) -> str | None:
    """The session's last checkpoint when it still builds on `tip` (an iteration commit since would
    have superseded it)."""
    ref = CHECKPOINT_PREFIX + session_ref_part(session_id)
    res = await git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=root, check=False)
    if not res.ok:
        return None
    parent = await git("rev-parse", "--verify", "--quiet", f"{res.out}^1", cwd=root, check=False)
    return res.out if parent.ok and (tip is None or parent.out == tip) else None


async def clean_head(worktree: StrPath) -> str | None:
    """HEAD's commit when the worktree holds nothing a snapshot would keep (no staged, changed or
    untracked file, ampsm's own untracked files aside), else None. One `git status`, against the
    four processes of `snapshot_state` finding nothing; it takes no optional lock (no index
    refresh written), so, like a snapshot, it changes nothing."""
    res = await git(
        "--no-optional-locks",
        "status",
        "--porcelain=v2",
        "-z",
        "--branch",
        "--untracked-files=all",
        "--ignore-submodules=none",
        cwd=worktree,
        check=False,
    )
    if not res.ok:
        return None
    head: str | None = None
    for entry in split_z(res.stdout):
        if entry.startswith("# branch.oid "):
            head = entry.removeprefix("# branch.oid ")
        elif entry.startswith("# ") or (entry.startswith("? ") and _ours(entry[2:])):
            continue
        else:
            return None  # staged, changed, unmerged or untracked: the snapshot decides
    return head if head and head != "(initial)" else None


def _ours(path: str) -> bool:
    return path == BOOKKEEPING_DIR or path.startswith(BOOKKEEPING_DIR + "/")


async def archive_work(
    repo: StrPath,
    session_id: str,
    *,
    worktree: StrPath | None = None,
    branch: str | None = None,
    merged_tip: str | None = None,
) -> ArchiveResult:
    """Keep the session's unmerged commits and uncommitted changes under an archive ref.

    Call it with the repo lock held, before removing the worktree or deleting the branch. A worktree
    that is already gone falls back on the session's last checkpoint (refs/ampsm/checkpoints/).
    `merged_tip`: a commit just merged into the base branch by the caller; a tip equal to it is
    held by that branch, with no search of every ref.
    """
    paths = await repo_paths(repo)
    root = paths.root
    tip: str | None = None
    has_git = worktree is not None and os.path.exists(join(os.fspath(worktree), ".git"))
    wip: str | None = None
    if has_git:
        assert worktree is not None
        tip = await clean_head(worktree)
        if tip is None:  # something to keep, perhaps: the snapshot, as before
            tip = await git_out("rev-parse", "--verify", "HEAD^{commit}", cwd=worktree)
            wip = await snapshot_uncommitted(worktree, f"ampsm: uncommitted state of session {session_id}")
    else:
        if branch is not None:
            res = await git(
                "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", cwd=root, check=False
            )
            tip = res.out if res.ok else None
        if worktree is not None and os.path.isdir(worktree):
            name = os.path.basename(os.fspath(worktree))
            wip = await snapshot_directory(root, worktree, f"ampsm: files left in {name} ({session_id})")
            tip = None
        elif tip is not None:
            wip = await checkpoint_of(root, session_id, tip)
    unmerged = tip is not None and tip != merged_tip and not await contained_elsewhere(root, tip, except_branch=branch)
    keep = wip or (tip if unmerged else None)
    if keep is None:
        await drop_checkpoint(root, session_id, common_dir=paths.common_dir)
        return ArchiveResult(ref=None, tip=tip, wip_sha=None, session_id=session_id)
    ref = await _free_archive_ref(root, session_id, keep)
    await git("update-ref", "-m", f"ampsm: archive {session_id}", ref, keep, cwd=root)
    await drop_checkpoint(root, session_id, common_dir=paths.common_dir)  # the archive supersedes it
    return ArchiveResult(ref=ref, tip=tip, wip_sha=wip, session_id=session_id, unmerged=unmerged)


def _ref_may_exist(common_dir: str, ref: str) -> bool:
    """False only when `ref` is provably absent: neither a loose file nor a line of packed-refs
    (and no other ref store, such as reftable, in use)."""
    if (
        os.path.exists(join(common_dir, ref))
        or not os.path.isdir(join(common_dir, "refs"))
        or os.path.exists(join(common_dir, "reftable"))
    ):
        return True
    try:
        with open(join(common_dir, "packed-refs"), "rb") as fh:
            packed = fh.read()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return f" {ref}\n".encode() in packed


async def drop_checkpoint(repo: StrPath, session_id: str, *, common_dir: StrPath | None = None) -> None:
    """Delete the session's checkpoint ref. With the repository's `common_dir`, a ref that is not
    there costs no git process (most sessions removed after a merge have none)."""
    ref = CHECKPOINT_PREFIX + session_ref_part(session_id)
    if common_dir is not None and not _ref_may_exist(os.fspath(common_dir), ref):
        return
    await git("update-ref", "-d", ref, cwd=repo, check=False)
