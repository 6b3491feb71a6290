"""What a session changed, as unified-diff text or as a per-file list.

Selectors (one at a time): the session branch against its merge-base with the base (default), the
staged changes (`staged`), the unstaged ones (`unstaged`), the last iteration (`last_iteration`:
HEAD~1..HEAD), or any `rev_range`. ampsm's own `.ampsm/` files are never part of a diff.
"""

from __future__ import annotations

from ..errors import AmpsmError, ErrorCode
from .repo import BOOKKEEPING_DIR
from .runner import gather_all, git, split_z

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NamedTuple

    from .runner import StrPath
else:
    from ..lite import NamedTuple

DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--find-renames")


class FileDiff(NamedTuple):
    path: str
    added: int
    removed: int
    status: str  # A added, M modified, D deleted, R renamed, C copied, T type change
    old_path: str | None = None  # the source of a rename or copy
    binary: bool = False


async def merge_base(worktree: StrPath, base_branch: str) -> str:
    """Where the session branch left `base_branch` (lesson 4: squash and diff against this, never
    against the base's current tip)."""
    res = await git("merge-base", "HEAD", f"refs/heads/{base_branch}", cwd=worktree, check=False)
    if not res.ok or not res.out:
        raise AmpsmError(ErrorCode.GIT, f"no common ancestor with base branch {base_branch!r} in {worktree}")
    return res.out


async def _selector(
    worktree: StrPath,
    base_branch: str | None,
    *,
    staged: bool,
    unstaged: bool,
    last_iteration: bool,
    rev_range: str | None,
) -> list[str]:
    if sum((staged, unstaged, last_iteration, rev_range is not None)) > 1:
        raise ValueError("choose one of staged, unstaged, last_iteration, rev_range")
    if rev_range is not None:
        if rev_range.startswith("-"):
            raise AmpsmError(ErrorCode.GIT, f"invalid revision range {rev_range!r}")
        return [rev_range]
    if staged:
        return ["--cached", "HEAD"]
    if unstaged:
        return []
    if last_iteration:
        return ["HEAD~1", "HEAD"]
    if base_branch is None:
        raise ValueError("base_branch is needed for the session diff")
    return [await merge_base(worktree, base_branch), "HEAD"]


def _paths(paths: Sequence[str] | None) -> list[str]:
    specs = [f":(literal){p}" for p in paths] if paths else ["."]
    return ["--", *specs, f":(exclude){BOOKKEEPING_DIR}"]


async def session_diff(
    worktree: StrPath,
    base_branch: str | None = None,
    *,
    staged: bool = False,
    unstaged: bool = False,
    last_iteration: bool = False,
    stat: bool = False,
    paths: Sequence[str] | None = None,
    rev_range: str | None = None,
) -> str:
    """Unified diff text (or `--stat` text) of the chosen selector."""
    sel = await _selector(
        worktree, base_branch, staged=staged, unstaged=unstaged, last_iteration=last_iteration, rev_range=rev_range
    )
    extra = ["--stat=200"] if stat else []
    res = await git("diff", *DIFF_OPTIONS, *extra, *sel, *_paths(paths), cwd=worktree, check=False)
    if not res.ok:
        raise AmpsmError(ErrorCode.GIT, f"git diff failed in {worktree}: {res.stderr.strip()}")
    return res.stdout


async def last_iteration_diff(worktree: StrPath, *, stat: bool = False) -> str:
    return await session_diff(worktree, last_iteration=True, stat=stat)


async def diff_files(
    worktree: StrPath,
    base_branch: str | None = None,
    *,
    staged: bool = False,
    unstaged: bool = False,
    last_iteration: bool = False,
    paths: Sequence[str] | None = None,
    rev_range: str | None = None,
) -> list[FileDiff]:
    """One entry per changed file, with line counts (0 and `binary=True` for binary files)."""
    sel = await _selector(
        worktree, base_branch, staged=staged, unstaged=unstaged, last_iteration=last_iteration, rev_range=rev_range
    )
    spec = _paths(paths)
    status_res, num_res = await gather_all(
        git("diff", *DIFF_OPTIONS, "--name-status", "-z", *sel, *spec, cwd=worktree, check=False),
        git("diff", *DIFF_OPTIONS, "--numstat", "-z", *sel, *spec, cwd=worktree, check=False),
    )
    for res in (status_res, num_res):
        if not res.ok:
            raise AmpsmError(ErrorCode.GIT, f"git diff failed in {worktree}: {res.stderr.strip()}")
    return parse_diff(status_res.stdout, num_res.stdout)


def parse_diff(name_status_z: str, numstat_z: str) -> list[FileDiff]:
    """Join `--name-status -z` and `--numstat -z` output by path."""
    counts: dict[str, tuple[int, int, bool]] = {}
    fields = split_z(numstat_z)
    i = 0
    while i < len(fields):
        added, removed, path = fields[i].split("\t", 2)
        if path == "":  # a rename: the two paths follow as fields of their own
            path = fields[i + 2]
            i += 2
        i += 1
        binary = added == "-"
        counts[path] = (0 if binary else int(added), 0 if binary else int(removed), binary)
    out: list[FileDiff] = []
    fields = split_z(name_status_z)
    i = 0
    while i < len(fields):
        code = fields[i]
        old: str | None = None
        if code[:1] in ("R", "C"):
            old, path = fields[i + 1], fields[i + 2]
            i += 3
        else:
            path = fields[i + 1]
            i += 2
        n_added, n_removed, binary = counts.get(path, (0, 0, False))
        out.append(FileDiff(path=path, added=n_added, removed=n_removed, status=code[:1], old_path=old, binary=binary))
    return out


# ---------------------------------------------------------------- merged sessions

MERGED_PREFIX = "refs/ampsm/merged/"


async def record_merge(repo: StrPath, session_id: str, base_before: str, merged_as: str) -> None:
    """Remember what a merge landed, in the repository itself (`refs/ampsm/merged/<id>/{base,merge}`):
    the worktree and branch may be removed after a merge, and the diff of a merged session is
    `base..merge` — what the merge changed on the base branch. Both refs in one transaction (one
    git process; never one without the other)."""
    lines = "".join(
        f"update {MERGED_PREFIX}{session_id}/{name} {sha}\n"
        for name, sha in (("base", base_before), ("merge", merged_as))
    )
    await git("update-ref", "--stdin", cwd=repo, input=lines)


async def merged_range(repo: StrPath, session_id: str) -> tuple[str, str] | None:
    """(base before the merge, the merge commit or fast-forwarded tip), or None when never recorded."""
    out: list[str] = []
    for name in ("base", "merge"):
        res = await git(
            "rev-parse", "--verify", "--quiet", f"{MERGED_PREFIX}{session_id}/{name}", cwd=repo, check=False
        )
        if not res.ok or not res.out:
            return None
        out.append(res.out)
    return out[0], out[1]


async def merged_diff(repo: StrPath, session_id: str, *, stat: bool = False) -> str | None:
    """The diff a merged session landed (None when the merge was not recorded)."""
    found = await merged_range(repo, session_id)
    if found is None:
        return None
    return await session_diff(repo, rev_range=f"{found[0]}..{found[1]}", stat=stat)
