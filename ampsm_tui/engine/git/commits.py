"""One iteration, one commit: everything the agent changed, staged and committed atomically.

The message is `amp: <summary>` with `Amp-Session:` and `Amp-Iteration:` trailers, so squash can
tell ampsm's commits from the user's manual ones (which carry neither the prefix nor the trailer).
"""

from __future__ import annotations

import os

from ..errors import AmpsmError, ErrorCode
from .diffs import DIFF_OPTIONS, FileDiff, diff_files, merge_base, parse_diff
from .locks import RepoLock
from .repo import BOOKKEEPING_DIR, current_operation, on_branch_by_files, real, rev
from .runner import GitError, gather_all, git, git_out

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from typing import NamedTuple

    from .runner import StrPath
else:
    from ..lite import NamedTuple

SESSION_TRAILER = "Amp-Session"
ITERATION_TRAILER = "Amp-Iteration"
SUBJECT_MAX = 72
#: Control characters become spaces in a subject line (a table rather than a regex: see slug.py).
_CONTROL = {c: " " for c in [*range(0x20), 0x7F]}
#: Used only when the user has no git identity configured, so an iteration is never lost for it.
FALLBACK_IDENTITY = ("-c", "user.name=ampsm", "-c", "user.email=ampsm@localhost")


class CommitResult(NamedTuple):
    sha: str
    files_changed: int
    lines_added: int
    lines_removed: int
    files: list[FileDiff]


class CommitInfo(NamedTuple):
    sha: str
    parents: list[str]
    subject: str
    message: str
    is_amp: bool


def subject_line(summary: str, limit: int = SUBJECT_MAX) -> str:
    """The first non-empty line of `summary`, control characters dropped, bounded in length."""
    line = next((ln for ln in summary.splitlines() if ln.strip()), "")
    line = " ".join(line.translate(_CONTROL).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def iteration_message(summary: str, *, session_id: str, iteration: int, prefix: str = "amp:") -> str:
    subject = subject_line(summary, SUBJECT_MAX - len(prefix) - 1) or f"iteration {iteration}"
    return f"{prefix} {subject}\n\n{SESSION_TRAILER}: {session_id}\n{ITERATION_TRAILER}: {iteration}\n"


def is_amp_commit(message: str, prefix: str = "amp:") -> bool:
    """ampsm's commits: the prefix on the subject, or the session trailer (a squash commit)."""
    if message.startswith(prefix):
        return True
    return any(line.startswith(f"{SESSION_TRAILER}: ") for line in message.splitlines()[1:])


def session_of(message: str) -> str | None:
    for line in message.splitlines():
        if line.startswith(f"{SESSION_TRAILER}: "):
            return line.split(": ", 1)[1].strip()
    return None


_IDENTITY: dict[str, tuple[str, ...]] = {}


async def identity_options(cwd: StrPath) -> tuple[str, ...]:
    """`-c user.name=... -c user.email=...` when git knows no identity here, else nothing. Asked
    once per worktree per process (two `git var` processes, side by side), not on every commit."""
    key = real(cwd)
    if key not in _IDENTITY:
        res, author = await gather_all(
            git("var", "GIT_COMMITTER_IDENT", cwd=cwd, check=False),
            git("var", "GIT_AUTHOR_IDENT", cwd=cwd, check=False),
        )
        _IDENTITY[key] = () if res.ok and author.ok else FALLBACK_IDENTITY
    return _IDENTITY[key]


def known_identity(cwd: StrPath) -> tuple[str, ...] | None:
    """What `identity_options` found for `cwd` in this process, or None when it was not asked yet."""
    return _IDENTITY.get(real(cwd))


async def _commit(wt: StrPath, message: str) -> None:
    """`git commit` of the index. The identity is only asked about when the commit fails (two
    `git var` processes per new worktree, i.e. per batch item, were a tenth of an iteration's
    git work): without one, the commit is made again under ampsm's fallback identity."""
    # no `git maintenance run --auto` after each iteration (GIT_OPTIONS): the user's repository to tidy
    argv = ("commit", "--quiet", "--no-verify", "--file=-")
    known = known_identity(wt)
    res = await git(*(known or ()), *argv, cwd=wt, input=message, check=False)
    if not res.ok and known is None and await identity_options(wt):
        res = await git(*FALLBACK_IDENTITY, *argv, cwd=wt, input=message, check=False)
    if not res.ok:
        raise GitError(res)


async def require_own_worktree(wt: StrPath) -> None:
    """E004 unless `wt` is itself the top of a git worktree. Without its `.git` file git would find
    the enclosing repository (the user's checkout) and stage or switch branches there."""
    res = await git("rev-parse", "--show-toplevel", cwd=wt, check=False)
    if not res.ok or real(res.out) != real(wt):
        raise AmpsmError(
            ErrorCode.WORKTREE,
            f"{wt} is no longer a git worktree (its .git file is missing or broken); nothing was committed:"
            " the files are kept as they are; `git worktree repair` in the main checkout may reconnect it",
        )


def operation_hint(wt: StrPath, op: str, session_id: str | None = None) -> str:
    """How to get out of a rebase/merge the worktree was left in."""
    abort = f"`ampsm abort {session_id}`" if session_id else f"`git -C {wt} {op} --abort`"
    return f"{abort} puts everything back as before it; or resolve the files and `git -C {wt} {op} --continue`"


async def ensure_session_branch(worktree: StrPath, branch: str, *, session_id: str | None = None) -> bool:
    """The worktree must be on the session branch, outside any rebase/merge, before an agent runs
    and before its work is committed: otherwise the commit would land elsewhere (or nowhere) and a
    later merge would merge nothing.

    An agent that moved to a detached HEAD or a branch of its own, built on the session branch, has
    its commits brought back (the session branch fast-forwards to them and HEAD is attached to it;
    index and files are untouched). Returns True when that happened. Anything else is E001 (an
    operation in progress) or E004 naming the branch; nothing is changed then. Call under the lock."""
    wt = os.fspath(worktree)
    if not os.path.isdir(wt):
        raise AmpsmError(ErrorCode.WORKTREE, f"worktree {wt} of branch {branch} is missing")
    if await _on_branch(wt, branch):
        return False
    # something is off: the checks one by one, to name what
    await require_own_worktree(wt)
    op = await current_operation(wt)
    if op:
        raise AmpsmError(
            ErrorCode.GIT, f"worktree {wt} is in the middle of a {op}; {operation_hint(wt, op, session_id)}"
        )
    tip = await rev(wt, f"refs/heads/{branch}")
    if tip is None:
        raise AmpsmError(
            ErrorCode.WORKTREE,
            f"session branch {branch} no longer exists (deleted by hand?); the work in {wt} is kept as it is:"
            f" recreate it with `git -C {wt} switch -c {branch}`",
        )
    head_ref = await git("symbolic-ref", "--quiet", "HEAD", cwd=wt, check=False)
    if head_ref.ok and head_ref.out == f"refs/heads/{branch}":
        return False
    head = await rev(wt, "HEAD")
    where = head_ref.out.removeprefix("refs/heads/") if head_ref.ok else f"a detached HEAD ({(head or '?')[:10]})"
    if head is not None and (await git("merge-base", "--is-ancestor", tip, head, cwd=wt, check=False)).ok:
        await git("update-ref", "-m", f"ampsm: bring back commits made on {where}", f"refs/heads/{branch}", head, tip,
                  cwd=wt)  # fmt: skip
        await git("symbolic-ref", "-m", "ampsm: back on the session branch", "HEAD", f"refs/heads/{branch}", cwd=wt)
        return True
    raise AmpsmError(
        ErrorCode.WORKTREE,
        f"the worktree {wt} is on {where}, not on the session branch {branch}, and {branch} is not part of it;"
        f" nothing was committed: check it out again with `git -C {wt} switch {branch}`",
    )


async def _on_branch(wt: StrPath, branch: str) -> bool:
    """The usual case in one git process (it runs before and after every agent turn): `wt` is the
    top of its own worktree, the branch exists and HEAD is attached to it, no rebase/merge going
    on. False means "look closer", not that anything is wrong. Git's own files answer first (no
    process at all when they vouch for it)."""
    if on_branch_by_files(wt, branch):
        return True
    res = await git("rev-parse", "--show-toplevel", f"refs/heads/{branch}^{{commit}}", "--symbolic-full-name", "HEAD",
                    cwd=wt, check=False)  # fmt: skip
    lines = res.out.splitlines()
    if not res.ok or len(lines) != 3 or lines[2] != f"refs/heads/{branch}" or real(lines[0]) != real(wt):
        return False
    return not await current_operation(wt)


async def commit_iteration(
    worktree: StrPath,
    summary: str,
    *,
    session_id: str,
    iteration: int,
    prefix: str = "amp:",
    lock_timeout: float = 60.0,
    branch: str | None = None,
) -> CommitResult | None:
    """Stage every change in the worktree (new, modified, deleted, renamed; .gitignore respected;
    `.ampsm/` never) and commit it; None when there was nothing to commit. With `branch`, the
    worktree must be on it first (`ensure_session_branch`). Every git failure is an AmpsmError
    (E001, or E004 for the branch) with git's own message."""
    wt = os.fspath(worktree)
    try:
        async with RepoLock(wt, lock_timeout, purpose=f"commit {session_id}", shared=True):
            if branch is not None:
                await ensure_session_branch(wt, branch, session_id=session_id)  # its own worktree, checked
            return await _commit_locked(
                wt, summary, session_id=session_id, iteration=iteration, prefix=prefix, checked=branch is not None
            )
    except GitError as exc:
        raise AmpsmError(ErrorCode.GIT, f"commit failed in {wt}: {_git_detail(exc)}") from exc
    except OSError as exc:  # a worktree whose .git file is gone, a full disk under git
        raise AmpsmError(ErrorCode.GIT, f"commit failed in {wt}: {exc.strerror or exc}") from exc


def _git_detail(exc: GitError) -> str:
    text = (exc.result.stderr or exc.result.stdout).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return " ".join(lines[:3]) if lines else f"git {exc.result.args[0]} exited {exc.result.returncode}"


def _ours(path: str | None) -> bool:
    return path is not None and (path == BOOKKEEPING_DIR or path.startswith(BOOKKEEPING_DIR + "/"))


async def _staged(wt: StrPath) -> list[FileDiff]:
    """Everything staged, ampsm's own folder included: one look tells both what the commit holds
    and whether a `reset` of `.ampsm/` is needed at all (it is a process per iteration otherwise)."""
    status, numstat = await gather_all(
        git("diff", *DIFF_OPTIONS, "--name-status", "-z", "--cached", "HEAD", cwd=wt),
        git("diff", *DIFF_OPTIONS, "--numstat", "-z", "--cached", "HEAD", cwd=wt),
    )
    return parse_diff(status.stdout, numstat.stdout)


async def _commit_locked(
    wt: StrPath, summary: str, *, session_id: str, iteration: int, prefix: str, checked: bool = False
) -> CommitResult | None:
    if not checked:
        await require_own_worktree(wt)
    op = await current_operation(wt)
    if op:
        raise AmpsmError(
            ErrorCode.GIT, f"worktree {wt} is in the middle of a {op}; cannot commit: {operation_hint(wt, op)}"
        )
    await git("add", "--all", "--", ".", f":(exclude){BOOKKEEPING_DIR}", cwd=wt)
    files = await _staged(wt)
    if any(_ours(f.path) or _ours(f.old_path) for f in files):
        # whatever of ours was staged by someone else goes back out of the index
        await git("reset", "--quiet", "HEAD", "--", f":(literal){BOOKKEEPING_DIR}", cwd=wt, check=False)
        files = await diff_files(wt, staged=True)
    if not files:  # nothing staged, nothing listed: no commit
        return None
    await _commit(wt, iteration_message(summary, session_id=session_id, iteration=iteration, prefix=prefix))
    sha = await git_out("rev-parse", "HEAD", cwd=wt)
    return CommitResult(
        sha=sha,
        files_changed=len(files),
        lines_added=sum(f.added for f in files),
        lines_removed=sum(f.removed for f in files),
        files=files,
    )


async def session_commits(worktree: StrPath, base_branch: str, *, prefix: str = "amp:") -> list[CommitInfo]:
    """The session branch's own commits (merge-base..HEAD), oldest first, amp or manual."""
    mb = await merge_base(worktree, base_branch)
    return await commits_between(worktree, mb, "HEAD", prefix=prefix)


async def linear_range(
    worktree: StrPath, base_branch: str, *, prefix: str = "amp:"
) -> tuple[str, str, str, list[CommitInfo]] | None:
    """HEAD, its tree, the merge base with `base_branch` and the commits between (oldest first), in
    one `git log`, when the session branch is a plain line of commits off the base: then the one
    boundary commit of `base..HEAD` is the merge base (every other ancestor of HEAD is one of the
    boundary's). None, having decided nothing, for anything else (no commits, a merge, several
    boundaries, a missing branch): the caller asks `merge-base` and `log` separately, as before."""
    res = await git(
        "log",
        "--topo-order",
        "--boundary",
        "--format=%m%H%x1f%P%x1f%T%x1f%B%x1e",
        f"refs/heads/{base_branch}..HEAD",
        cwd=worktree,
        check=False,
    )
    if not res.ok:
        return None
    records = [r.lstrip("\n") for r in res.stdout.split("\x1e")]
    line: list[tuple[str, str, str, str]] = []
    boundary: list[str] = []
    for record in records:
        if not record:
            continue
        mark_sha, parents, tree, message = record.split("\x1f", 3)
        if mark_sha.startswith("-"):
            boundary.append(mark_sha[1:])
        else:
            line.append((mark_sha[1:], parents, tree, message.strip("\n")))
    if not line or len(boundary) != 1:
        return None
    for (_sha, parents, _tree, _msg), older in zip(line, [*(c[0] for c in line[1:]), boundary[0]], strict=True):
        if parents.split() != [older]:  # a merge, or not one line down to the boundary
            return None
    commits = [_commit_info(sha, parents, message, prefix) for sha, parents, _tree, message in reversed(line)]
    return line[0][0], line[0][2], boundary[0], commits


def _commit_info(sha: str, parents: str, message: str, prefix: str) -> CommitInfo:
    """A commit from `git log`'s fields (`%H`, `%P`, `%B` without its surrounding newlines)."""
    subject = message.splitlines()[0] if message else ""
    return CommitInfo(sha, parents.split(), subject, message, is_amp_commit(message, prefix))


async def commits_between(worktree: StrPath, start: str, end: str, *, prefix: str = "amp:") -> list[CommitInfo]:
    res = await git("log", "--reverse", "--topo-order", "--format=%H%x1f%P%x1f%B%x1e", f"{start}..{end}", cwd=worktree)
    out: list[CommitInfo] = []
    for record in res.stdout.split("\x1e"):
        record = record.lstrip("\n")
        if not record:
            continue
        sha, parents, message = record.split("\x1f", 2)
        out.append(_commit_info(sha, parents, message.strip("\n"), prefix))
    return out
