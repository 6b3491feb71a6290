"""One iteration, one commit: everything the agent changed, staged and committed atomically.

The message is `amp: <summary>` with `Amp-Session:` and `Amp-Iteration:` trailers, so squash can
tell ampsm's commits from the user's manual ones (which carry neither the prefix nor the trailer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AmpsmError, ErrorCode
from .diffs import FileDiff, diff_files, merge_base
from .locks import RepoLock
from .repo import BOOKKEEPING_DIR, current_operation
from .runner import GitError, git, git_out

SESSION_TRAILER = "Amp-Session"
ITERATION_TRAILER = "Amp-Iteration"
SUBJECT_MAX = 72
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Used only when the user has no git identity configured, so an iteration is never lost for it.
FALLBACK_IDENTITY = ("-c", "user.name=ampsm", "-c", "user.email=ampsm@localhost")


@dataclass(frozen=True)
class CommitResult:
    sha: str
    files_changed: int
    lines_added: int
    lines_removed: int
    files: list[FileDiff] = field(default_factory=list)


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    parents: list[str]
    subject: str
    message: str
    is_amp: bool


def subject_line(summary: str, limit: int = SUBJECT_MAX) -> str:
    """The first non-empty line of `summary`, control characters dropped, bounded in length."""
    line = next((ln for ln in summary.splitlines() if ln.strip()), "")
    line = " ".join(_CONTROL.sub(" ", line).split())
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


async def identity_options(cwd: Path | str) -> tuple[str, ...]:
    res = await git("var", "GIT_COMMITTER_IDENT", cwd=cwd, check=False)
    author = await git("var", "GIT_AUTHOR_IDENT", cwd=cwd, check=False)
    return () if res.ok and author.ok else FALLBACK_IDENTITY


async def commit_iteration(
    worktree: Path | str,
    summary: str,
    *,
    session_id: str,
    iteration: int,
    prefix: str = "amp:",
    lock_timeout: float = 60.0,
) -> CommitResult | None:
    """Stage every change in the worktree (new, modified, deleted, renamed; .gitignore respected;
    `.ampsm/` never) and commit it; None when there was nothing to commit."""
    wt = Path(worktree)
    async with RepoLock(wt, lock_timeout, purpose=f"commit {session_id}"):
        op = await current_operation(wt)
        if op:
            raise AmpsmError(ErrorCode.GIT, f"worktree {wt} is in the middle of a {op}; cannot commit")
        await git("add", "--all", "--", ".", f":(exclude){BOOKKEEPING_DIR}", cwd=wt)
        # whatever of ours was staged by someone else goes back out of the index
        await git("reset", "--quiet", "HEAD", "--", f":(literal){BOOKKEEPING_DIR}", cwd=wt, check=False)
        if (await git("diff", "--cached", "--quiet", cwd=wt, check=False)).ok:
            return None
        files = await diff_files(wt, staged=True)
        message = iteration_message(summary, session_id=session_id, iteration=iteration, prefix=prefix)
        ident = await identity_options(wt)
        try:
            await git(*ident, "commit", "--quiet", "--no-verify", "--file=-", cwd=wt, input=message)
        except GitError as exc:
            raise AmpsmError(ErrorCode.GIT, f"commit failed in {wt}: {exc}") from exc
        sha = await git_out("rev-parse", "HEAD", cwd=wt)
    return CommitResult(
        sha=sha,
        files_changed=len(files),
        lines_added=sum(f.added for f in files),
        lines_removed=sum(f.removed for f in files),
        files=files,
    )


async def session_commits(worktree: Path | str, base_branch: str, *, prefix: str = "amp:") -> list[CommitInfo]:
    """The session branch's own commits (merge-base..HEAD), oldest first, amp or manual."""
    mb = await merge_base(worktree, base_branch)
    return await commits_between(worktree, mb, "HEAD", prefix=prefix)


async def commits_between(worktree: Path | str, start: str, end: str, *, prefix: str = "amp:") -> list[CommitInfo]:
    res = await git("log", "--reverse", "--topo-order", "--format=%H%x1f%P%x1f%B%x1e", f"{start}..{end}", cwd=worktree)
    out: list[CommitInfo] = []
    for record in res.stdout.split("\x1e"):
        record = record.lstrip("\n")
        if not record:
            continue
        sha, parents, message = record.split("\x1f", 2)
        message = message.strip("\n")
        out.append(
            CommitInfo(
                sha=sha,
                parents=parents.split(),
                subject=message.splitlines()[0] if message else "",
                message=message,
                is_amp=is_amp_commit(message, prefix),
            )
        )
    return out
