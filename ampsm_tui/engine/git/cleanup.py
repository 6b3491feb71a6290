"""Orphaned worktrees and stale `amp/` branches: found with their size (lesson 20). Only what is
provably merged or empty is removed; an orphan holding unmerged or uncommitted work stays unless the
caller includes it, and then that work is kept under `refs/ampsm/archive/` first (lesson 19)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .archive import archive_work, contained_elsewhere
from .locks import RepoLock
from .repo import dirty_paths, repo_paths, rev, worktree_branches
from .runner import git
from .safekeep import dir_disk_usage
from .slug import is_safe_session_id
from .worktrees import SESSION_KEY, remove_worktree, worktrees_root

#: Session statuses whose worktrees are no longer needed.
FINISHED = frozenset({"archived", "done"})

OrphanKind = Literal["worktree", "directory", "branch"]


@dataclass
class Orphan:
    kind: OrphanKind  # a registered worktree, a loose directory under .worktrees, or a branch alone
    reason: str
    path: Path | None = None
    branch: str | None = None
    session_id: str | None = None
    size_bytes: int = 0
    unmerged: bool = False  # holds work found nowhere else: it is archived before removal

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path) if self.path else None
        return data


@dataclass
class CleanReport:
    dry_run: bool
    removed: list[Orphan] = field(default_factory=list)
    archived: dict[str, str] = field(default_factory=dict)  # orphan label -> archive ref
    pruned: list[str] = field(default_factory=list)  # what `git worktree prune` dropped
    errors: list[str] = field(default_factory=list)
    skipped: list[Orphan] = field(default_factory=list)  # holds unmerged work: left in place
    reclaimed_bytes: int = 0  # disk freed by the removal (measured before, in allocated blocks)


def disk_size(path: Path) -> int:
    """Bytes under `path`, symlinks not followed."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        for name in filenames + dirnames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def _why(session_id: str | None, known: Mapping[str, str]) -> str | None:
    if session_id is None or session_id not in known:
        return "no session row"
    status = str(known[session_id])
    return f"session is {status}" if status in FINISHED else None


async def _branch_sessions(root: Path) -> dict[str, str]:
    res = await git("config", "--get-regexp", r"^branch\..*\." + SESSION_KEY.lower() + "$", cwd=root, check=False)
    out: dict[str, str] = {}
    for line in res.stdout.splitlines():
        key, _, value = line.partition(" ")
        name = key[len("branch.") : -len(SESSION_KEY) - 1]
        out[name] = value.strip()
    return out


async def find_orphans(
    repo: Path | str, known_sessions: Mapping[str, str], *, worktree_dir: str | Path = ".worktrees"
) -> list[Orphan]:
    """Worktrees under `.worktrees/` whose session is unknown, archived or done; loose directories
    there; and `amp/` branches checked out nowhere whose session is unknown, archived or done.
    `known_sessions` maps session id -> status (every session ampsm knows, any repository)."""
    root = Path((await repo_paths(repo)).root)
    folder = Path(worktrees_root(root, worktree_dir))
    registered = {Path(p).resolve(): b for p, b in (await worktree_branches(root)).items()}
    orphans: list[Orphan] = []
    in_use: set[str] = set()
    entries = sorted(folder.iterdir()) if folder.is_dir() else []
    for entry in entries:
        if not entry.is_dir() or entry.is_symlink():
            continue
        resolved = entry.resolve()
        branch = registered.get(resolved)
        is_worktree = resolved in registered and (entry / ".git").exists()
        reason = _why(entry.name, known_sessions)
        if reason is None:
            if branch:
                in_use.add(branch)
            continue
        size = await asyncio.to_thread(disk_size, entry)
        if is_worktree:
            unmerged = bool(await dirty_paths(entry, untracked=True))
            if not unmerged:
                tip = await rev(entry, "HEAD")
                unmerged = tip is not None and not await contained_elsewhere(root, tip, except_branch=branch)
            orphans.append(Orphan("worktree", reason, entry, branch, entry.name, size, unmerged))
        else:
            has_files = any(p.is_file() for p in entry.rglob("*"))
            orphans.append(Orphan("directory", "not a git worktree", entry, None, entry.name, size, has_files))
    orphan_branches = {o.branch for o in orphans if o.branch}
    checked_out = {b for p, b in registered.items() if b and p.exists()}  # a vanished dir is pruned by clean
    owners = await _branch_sessions(root)
    res = await git("for-each-ref", "--format=%(refname:short)", "refs/heads/amp/", cwd=root)
    for branch in res.stdout.splitlines():
        if branch in orphan_branches or branch in in_use or branch in checked_out:
            continue
        sid = owners.get(branch)
        reason = _why(sid, known_sessions)
        if reason is None:
            continue
        tip = await rev(root, f"refs/heads/{branch}")
        unmerged = tip is not None and not await contained_elsewhere(root, tip, except_branch=branch)
        orphans.append(Orphan("branch", f"not checked out; {reason}", None, branch, sid, 0, unmerged))
    return orphans


async def clean(
    repo: Path | str,
    orphans: list[Orphan],
    dry_run: bool = False,
    *,
    lock_timeout: float = 60.0,
    include_unmerged: bool = False,
) -> CleanReport:
    """Remove the given orphans that are provably merged or empty, and prune stale worktree records.
    An orphan holding unmerged or uncommitted work is left in place (`report.skipped`) unless
    `include_unmerged`, and then its work is archived first. With `dry_run`, only report."""
    root = (await repo_paths(repo)).root
    report = CleanReport(dry_run=dry_run)
    if not include_unmerged:
        report.skipped = [o for o in orphans if o.unmerged]
        orphans = [o for o in orphans if not o.unmerged]
    if dry_run:
        report.removed = list(orphans)
        report.reclaimed_bytes = sum(o.size_bytes for o in orphans)
        res = await git("worktree", "prune", "--dry-run", "--verbose", cwd=root, check=False)
        report.pruned = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
        return report
    async with RepoLock(root, lock_timeout, purpose="clean-environment"):
        first = await git("worktree", "prune", "--verbose", cwd=root, check=False)
        for orphan in orphans:
            label = str(orphan.path or orphan.branch)
            sid = orphan.session_id if orphan.session_id and is_safe_session_id(orphan.session_id) else None
            try:
                before = await dir_disk_usage(orphan.path) if orphan.path is not None and orphan.path.is_dir() else 0
                if orphan.kind in ("worktree", "directory"):
                    result = await remove_worktree(
                        root, orphan.path, orphan.branch, session_id=sid or (orphan.path.name if orphan.path else None)
                    )
                    archive = result.archive
                else:
                    assert orphan.branch is not None
                    archive = await archive_work(root, sid or orphan.branch.replace("/", "-"), branch=orphan.branch)
                    await git("branch", "-D", "--", orphan.branch, cwd=root)
            except Exception as exc:  # one stubborn orphan must not stop the others
                report.errors.append(f"{label}: {exc}")
                continue
            if archive.ref:
                report.archived[label] = archive.ref
            report.removed.append(orphan)
            report.reclaimed_bytes += before
        res = await git("worktree", "prune", "--verbose", cwd=root, check=False)
        text = first.stdout + first.stderr + res.stdout + res.stderr
        report.pruned = [ln for ln in text.splitlines() if ln.strip()]
    return report
