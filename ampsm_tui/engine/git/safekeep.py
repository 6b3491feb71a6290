"""Getting kept work back, and letting old archives go.

`archive.py` keeps work under `refs/ampsm/archive/<session>/<stamp>` (and checkpoints under
`refs/ampsm/checkpoints/<session>`); this module lists those refs with the disk only they hold,
puts a worktree back exactly as it was (branch tip, staged changes, modified and untracked files),
and prunes archives older than a cut-off.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..clock import STAMP_FORMAT, to_iso, utcnow
from ..errors import AmpsmError, ErrorCode
from .archive import ARCHIVE_PREFIX, CHECKPOINT_PREFIX, SNAPSHOT_TRAILER, drop_checkpoint
from .locks import RepoLock
from .repo import repo_paths, rev
from .runner import git, git_out


@dataclass
class KeptRef:
    """One archive or checkpoint ref."""

    ref: str
    kind: str  # "archive" | "checkpoint"
    session_id: str
    sha: str
    created_at: str  # UTC ISO
    snapshot: str | None  # the Ampsm-Snapshot kind, or None when the ref is a plain branch tip
    tip: str  # the branch tip it keeps (the snapshot's first parent, or the ref itself)
    subject: str
    size_bytes: int = 0  # bytes of objects held by this ref alone (what pruning it frees)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stamp(ref: str, fallback: int) -> datetime:
    last = ref.rsplit("/", 1)[-1].split("-")
    try:
        return datetime.strptime("-".join(last[:2]), STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(fallback, UTC)


async def list_kept(repo: Path | str, *, sizes: bool = True, kinds: tuple[str, ...] = ("archive",)) -> list[KeptRef]:
    """Archive (and, when asked, checkpoint) refs of the repository, newest first."""
    root = Path((await repo_paths(repo)).root)
    prefixes = [p for k, p in (("archive", ARCHIVE_PREFIX), ("checkpoint", CHECKPOINT_PREFIX)) if k in kinds]
    fmt = "%(refname)%00%(objectname)%00%(committerdate:unix)%00%(subject)%00%(parent)%00%(contents:trailers)%01"
    res = await git("for-each-ref", f"--format={fmt}", *prefixes, cwd=root)
    out: list[KeptRef] = []
    for record in res.stdout.split("\x01"):
        record = record.strip("\n")
        if not record:
            continue
        ref, sha, when, subject, parents, trailers = (record.split("\x00") + [""] * 6)[:6]
        kind = "archive" if ref.startswith(ARCHIVE_PREFIX) else "checkpoint"
        rest = ref[len(ARCHIVE_PREFIX if kind == "archive" else CHECKPOINT_PREFIX) :]
        session_id = rest.split("/", 1)[0]
        snap = None
        for line in trailers.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == SNAPSHOT_TRAILER:
                snap = value.strip()
        first_parent = parents.split()[0] if parents.split() else ""
        moment = _stamp(ref, int(when or 0)) if kind == "archive" else datetime.fromtimestamp(int(when or 0), UTC)
        out.append(
            KeptRef(
                ref=ref,
                kind=kind,
                session_id=session_id,
                sha=sha,
                created_at=to_iso(moment),
                snapshot=snap,
                tip=first_parent if snap and first_parent else sha,
                subject=subject,
            )
        )
    out.sort(key=lambda k: (k.created_at, k.ref), reverse=True)
    if sizes:
        for kept in out:
            others = [k.ref for k in out if k.ref != kept.ref]
            kept.size_bytes = await exclusive_size(root, kept.ref, others)
    return out


async def exclusive_size(root: Path, ref: str, others: list[str]) -> int:
    """Bytes on disk of the objects reachable from `ref` and from no branch, tag, remote or other
    kept ref: what pruning it would let `git gc` free."""
    stdin = "".join(f"^{other}\n" for other in others)
    res = await git(
        "rev-list",
        "--objects",
        "--disk-usage",
        ref,
        "--not",
        "--branches",
        "--tags",
        "--remotes",
        "--stdin",
        cwd=root,
        input=stdin,
        check=False,
    )
    if res.ok and res.out.isdigit():
        return int(res.out)
    return 0


async def find_kept(repo: Path | str, session_id: str) -> list[KeptRef]:
    return [k for k in await list_kept(repo, sizes=False, kinds=("archive",)) if k.session_id == session_id]


# -- restore -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    branch: str
    tip: str
    source: str  # the ref (or commit) it came from
    snapshot: str | None  # the snapshot kind that was applied, if any


async def _snapshot_kind(root: Path, sha: str) -> str | None:
    res = await git("log", "-1", f"--format=%(trailers:key={SNAPSHOT_TRAILER},valueonly)", sha, cwd=root)
    return res.out.strip() or None


async def restore_worktree(
    repo: Path | str,
    target: Path,
    branch: str,
    source: str,
    *,
    branch_config: dict[str, str] | None = None,
    lock_timeout: float = 60.0,
) -> RestoreResult:
    """Make worktree `target` on `branch` from `source` (an archive/checkpoint ref or a commit).

    The branch is (re)created at the kept tip; a snapshot is then put back exactly: the index is the
    staged state, the files are the worktree state (untracked files come back untracked, deleted
    files stay deleted). A branch that exists already must point at that tip (E004 otherwise).
    """
    root = Path((await repo_paths(repo)).root)
    sha = await rev(root, source)
    if sha is None:
        raise AmpsmError(ErrorCode.WORKTREE, f"nothing to restore: {source} does not exist")
    kind = await _snapshot_kind(root, sha)
    tip = sha
    index_tree: str | None = None
    if kind:
        tip = await git_out("rev-parse", f"{sha}^1", cwd=root)
        second = await git("rev-parse", "--verify", "--quiet", f"{sha}^2^{{tree}}", cwd=root, check=False)
        index_tree = second.out if second.ok else None
    async with RepoLock(root, lock_timeout, purpose=f"restore {target.name}"):
        if target.exists() and any(target.iterdir()):
            raise AmpsmError(ErrorCode.WORKTREE, f"cannot restore into {target}: it exists and is not empty")
        existing = await rev(root, f"refs/heads/{branch}")
        await git("worktree", "prune", cwd=root, check=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        if existing is None:
            await git("worktree", "add", "--quiet", "--no-track", "-b", branch, target, tip, cwd=root)
        elif existing == tip:
            await git("worktree", "add", "--quiet", target, branch, cwd=root)
        else:
            raise AmpsmError(
                ErrorCode.WORKTREE,
                f"branch {branch} exists at {existing[:12]}, not at the kept tip {tip[:12]}; "
                f"`git branch <other-name> {source}` keeps both",
            )
        for key, value in (branch_config or {}).items():
            await git("config", f"branch.{branch}.{key}", value, cwd=root)
        if kind:
            await _apply_snapshot(target, tip, sha, index_tree)
    return RestoreResult(path=target, branch=branch, tip=tip, source=source, snapshot=kind)


async def _apply_snapshot(worktree: Path, tip: str, snapshot: str, index_tree: str | None) -> None:
    """Files of `snapshot` into the worktree, index set to `index_tree`; HEAD stays at `tip`. Only
    the paths that differ from the tip are written or re-indexed: the rest of the fresh checkout (and
    its index stat data) is already right, so a large repository costs what changed, not its size."""
    changed = await _raw_diff(worktree, tip, snapshot)
    written = [path for status, _mode, _sha, path in changed if status != "D"]
    if written:
        with tempfile.TemporaryDirectory(prefix="ampsm-restore-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            await git("read-tree", snapshot, cwd=worktree, env=env)
            await git(
                "checkout-index", "--force", "-z", "--stdin", cwd=worktree, env=env, input="\0".join(written) + "\0"
            )
    for status, _mode, _sha, path in changed:  # deleted in the kept worktree: deleted again
        target = worktree / path
        if status == "D" and (target.is_symlink() or target.is_file()):
            target.unlink()
    staged = await _raw_diff(worktree, tip, index_tree or tip)
    if staged:
        records = [
            f"0 {'0' * 40}\t{path}" if status == "D" else f"{mode} {sha}\t{path}" for status, mode, sha, path in staged
        ]
        await git("update-index", "-z", "--index-info", cwd=worktree, input="\0".join(records) + "\0")
    await git("update-index", "-q", "--refresh", cwd=worktree, check=False)


async def _raw_diff(cwd: Path, a: str, b: str) -> list[tuple[str, str, str, str]]:
    """(status, new mode, new sha, path) of every path that differs between trees `a` and `b`."""
    res = await git("diff-tree", "-r", "-z", "--no-renames", "--raw", a, b, cwd=cwd)
    parts = res.stdout.split("\0")
    out = []
    for i in range(0, len(parts) - 1, 2):
        meta, path = parts[i], parts[i + 1]
        if not meta.startswith(":"):
            continue
        _old_mode, new_mode, _old_sha, new_sha, status = meta[1:].split(" ")
        out.append((status[0], new_mode, new_sha, path))
    return out


# -- gc ------------------------------------------------------------------------------------


@dataclass
class GcReport:
    dry_run: bool
    older_than_s: float
    pruned: list[KeptRef]
    kept: int

    @property
    def bytes(self) -> int:
        return sum(k.size_bytes for k in self.pruned)


async def gc_archives(
    repo: Path | str,
    older_than_s: float,
    *,
    dry_run: bool = True,
    live_sessions: frozenset[str] = frozenset(),
    lock_timeout: float = 60.0,
) -> GcReport:
    """Archives made more than `older_than_s` ago (and checkpoints of sessions no longer live, as
    old) are listed with their sizes; without `dry_run` their refs are deleted."""
    root = Path((await repo_paths(repo)).root)
    cutoff = to_iso(datetime.fromtimestamp(utcnow().timestamp() - older_than_s, UTC))
    everything = await list_kept(root, kinds=("archive", "checkpoint"))
    old = [
        k
        for k in everything
        if k.created_at <= cutoff and not (k.kind == "checkpoint" and k.session_id in live_sessions)
    ]
    if not dry_run and old:
        async with RepoLock(root, lock_timeout, purpose="gc archives"):
            for k in old:
                await git("update-ref", "-d", k.ref, k.sha, cwd=root)
    return GcReport(dry_run=dry_run, older_than_s=older_than_s, pruned=old, kept=len(everything) - len(old))


async def dir_disk_usage(path: Path) -> int:
    """Bytes a directory really occupies (allocated blocks, symlinks not followed)."""

    def walk() -> int:
        total = 0
        for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
            for name in filenames + dirnames:
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                total += getattr(st, "st_blocks", 0) * 512 or st.st_size
        return total

    return await asyncio.to_thread(walk)


__all__ = [
    "GcReport",
    "KeptRef",
    "RestoreResult",
    "dir_disk_usage",
    "drop_checkpoint",
    "exclusive_size",
    "find_kept",
    "gc_archives",
    "list_kept",
    "restore_worktree",
]
