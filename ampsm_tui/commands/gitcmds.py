"""test-git and clean-environment: the git engine, headless."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .. import format as fmt
from .context import Context
from .registry import arg, command

if TYPE_CHECKING:
    from ..engine.git.cleanup import Orphan


@command(
    "test-git",
    "run the whole git cycle (worktree, commit, squash, rebase, merge) in a throw-away clone",
    arg("--repo", default=".", help="repository to test (default: the current directory); it is not modified"),
    arg("--base", default=None, help="base branch (default: the repository's current branch)"),
    json=True,
)
async def test_git(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine.git.selftest import Step, run_selftest

    def show(step: Step) -> None:
        if not ctx.json:
            mark = "[green]✓[/]" if step.ok else "[red]✗[/]"
            ctx.print(f"{mark} {step.name:<18} {step.detail} [dim]({step.seconds:.2f}s)[/]")

    report = await run_selftest(Path(args.repo), base=args.base, on_step=show)
    if ctx.json:
        ctx.emit_json(
            {"ok": report.ok, "repo": report.repo, "base": report.base, "steps": [s.__dict__ for s in report.steps]}
        )
    else:
        ctx.print("[green]git cycle ok[/]" if report.ok else "[red]git cycle failed[/]")
    return 0 if report.ok else 1


@command(
    "clean-environment",
    "find orphaned session worktrees and stale amp/ branches; remove those provably merged or empty",
    arg("--repo", default=".", help="repository (default: the current directory's)"),
    arg("--dry-run", action="store_true", help="only list what would be removed"),
    arg(
        "--include-unmerged",
        action="store_true",
        help="also remove orphans holding unmerged or uncommitted work, archived first (ampsm restore / archive list)",
    ),
    arg("--yes", "-y", action="store_true", help="do not ask (ui.confirm_destructive)"),
    json=True,
)
async def clean_environment(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine.git.cleanup import clean, find_orphans
    from ..engine.git.repo import repo_paths

    root = Path((await repo_paths(args.repo)).root)
    store = await ctx.store()
    # Every session ampsm knows, by id (ids are global): a worktree is ours only through its row.
    known = {s.id: str(s.status) for s in await store.list_sessions()}
    orphans = await find_orphans(root, known, worktree_dir=ctx.config.git.worktree_dir)
    removable = [o for o in orphans if args.include_unmerged or not o.unmerged]
    if removable and not args.dry_run and ctx.config.ui.confirm_destructive and not args.yes:
        _confirm_clean(root, removable)
    report = await clean(
        root,
        orphans,
        dry_run=args.dry_run,
        lock_timeout=ctx.config.git.lock_timeout,
        include_unmerged=args.include_unmerged,
    )
    if not report.dry_run:
        for o in report.removed:  # their worktrees are gone: ports back to the pool
            if o.session_id and o.session_id in known:
                await store.release_ports(o.session_id)
    if ctx.json:
        ctx.emit_json(
            {
                "repo": str(root),
                "dry_run": report.dry_run,
                "orphans": [o.to_dict() for o in orphans],
                "removed": [o.to_dict() for o in report.removed] if not report.dry_run else [],
                "archived": report.archived,
                "pruned": report.pruned,
                "errors": report.errors,
                "skipped": [o.to_dict() for o in report.skipped],
                "total_bytes": sum(o.size_bytes for o in orphans),
                "reclaimed_bytes": report.reclaimed_bytes,
            }
        )
        return 1 if report.errors else 0
    if not orphans:
        ctx.print(f"no orphaned worktrees or stale branches in {root}")
    for o in orphans:
        ctx.print(_line(o), markup=False)
    if orphans:
        verb = "would remove" if report.dry_run else "removed"
        freed = "would reclaim" if report.dry_run else "reclaimed"
        ctx.print(f"{verb} {len(report.removed)} of {len(orphans)}; {freed} {fmt.size(report.reclaimed_bytes)}")
    for o in report.skipped:
        where = str(o.path) if o.path else f"branch {o.branch}"
        ctx.print(
            f"kept {where}: it holds unmerged or uncommitted work (--include-unmerged archives it, then removes it)",
            markup=False,
            soft_wrap=True,
        )
    for label, ref in report.archived.items():
        ctx.print(
            f"kept unmerged work of {label} under {ref} (see `ampsm archive list`; restore: git branch <name> {ref})",
            markup=False,
            soft_wrap=True,
        )
    for line in report.pruned:
        ctx.print(f"prune: {line}", markup=False)
    for err in report.errors:
        ctx.err_console.print(f"error: {err}", markup=False)
    return 1 if report.errors else 0


def _confirm_clean(root: Path, orphans: list[Orphan]) -> None:
    """ui.confirm_destructive: ask on a terminal, refuse (exit 2) without one unless --yes."""
    import sys

    from ..engine.errors import UsageError

    if not sys.stdin.isatty():
        raise UsageError(
            f"clean-environment would remove {len(orphans)} item(s) in {root} and asks first "
            "(ui.confirm_destructive); pass --yes, or --dry-run to look"
        )
    for o in orphans:
        sys.stdout.write(_line(o) + "\n")
    answer = input(f"Remove these {len(orphans)} item(s)? Unmerged work is archived first. [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise UsageError("nothing was removed")


def _line(o: Orphan) -> str:
    where = str(o.path) if o.path else f"branch {o.branch}"
    extra = " [unmerged work: kept unless --include-unmerged, which archives it first]" if o.unmerged else ""
    return f"{o.kind:<9} {where}  ({o.reason}; {fmt.size(o.size_bytes)}){extra}"
