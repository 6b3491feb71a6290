"""restore, archive list, gc: getting kept work back, and letting old archives go (issue 18)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import format as fmt
from .context import Context
from .registry import arg, command

if TYPE_CHECKING:
    from ..engine.engine import Engine
    from ..engine.models import Session


@command(
    "restore",
    "bring back an archived session's worktree and branch exactly (files, untracked files, branch tip),"
    " or a lost worktree from its last checkpoint",
    arg("id", help="session id or unique prefix"),
    json=True,
)
async def restore(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine.workspace import setup_failed

    engine = await ctx.engine()
    result = await engine.sessions.restore(args.id)
    session = await engine.sessions.get(args.id)
    setup_error = session.last_error if setup_failed(session) else None
    if ctx.json:
        ctx.emit_json(
            {
                "path": str(result.path),
                "branch": result.branch,
                "tip": result.tip,
                "source": result.source,
                "snapshot": result.snapshot,
                "setup_error": setup_error,
            }
        )
    else:
        extra = f" with its {result.snapshot} changes" if result.snapshot else ""
        ctx.print(
            f"restored {result.path} on {result.branch} at {result.tip[:10]}{extra} (from {result.source})",
            markup=False,
            soft_wrap=True,
        )
    if setup_error:  # the work is back; the worktree is not ready: say so, and fail
        ctx.err_console.print(
            f"{setup_error} (the work is restored; `ampsm iterate` runs the setup again)", markup=False, soft_wrap=True
        )
        return 1
    return 0


async def archive_list(args: argparse.Namespace, ctx: Context) -> int:
    """`ampsm archive list`: every archive ref of the known repositories (or --repo), newest first."""
    from ..engine.safekeep import list_archives

    store = await ctx.store()
    repo = Path(args.repo) if getattr(args, "repo", None) else None
    found = await list_archives(store, repo, checkpoints=True)
    if ctx.json:
        ctx.emit_json([{"repo": str(r.repo), "archives": [k.to_dict() for k in r.archives]} for r in found])
        return 0
    total = 0
    for r in found:
        if not r.archives:
            continue
        ctx.print(f"[bold]{r.repo}[/]")
        for k in r.archives:
            total += k.size_bytes
            what = f"{k.snapshot} changes on {k.tip[:10]}" if k.snapshot else f"commits up to {k.tip[:10]}"
            ctx.print(
                f"  {k.created_at[:19]}  {k.session_id:<16} {fmt.size(k.size_bytes):>9}  {what}  {k.ref}", markup=False
            )
    if total == 0 and not any(r.archives for r in found):
        ctx.print("no archives")
    else:
        ctx.print(
            f"restore one with `ampsm restore ID`; `ampsm gc --older-than 30d` prunes old ones ({fmt.size(total)})"
        )
    return 0


@command(
    "gc",
    "prune archives older than a cut-off, with their sizes (a dry run unless --apply)",
    arg("--older-than", default="30d", metavar="AGE", help="age like 30d, 12h (default: 30d)"),
    arg("--repo", help="only this repository (default: every repository with sessions)"),
    arg("--apply", action="store_true", help="delete the refs (default: only list what would go)"),
    json=True,
)
async def gc(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine.config import parse_duration
    from ..engine.errors import UsageError
    from ..engine.safekeep import gc as run_gc

    try:
        age = parse_duration(args.older_than)
    except ValueError as exc:
        raise UsageError(f"--older-than: {exc}") from None
    store = await ctx.store()
    reports = await run_gc(
        store,
        Path(args.repo) if args.repo else None,
        age,
        dry_run=not args.apply,
        lock_timeout=ctx.config.git.lock_timeout,
    )
    if ctx.json:
        ctx.emit_json(
            {
                "dry_run": not args.apply,
                "older_than_s": age,
                "repos": [
                    {"repo": str(root), "pruned": [k.to_dict() for k in r.pruned], "kept": r.kept, "bytes": r.bytes}
                    for root, r in reports
                ],
                "bytes": sum(r.bytes for _, r in reports),
            }
        )
        return 0
    verb = "would prune" if not args.apply else "pruned"
    count = 0
    for root, r in reports:
        for k in r.pruned:
            count += 1
            ctx.print(
                f"{verb} {k.ref} ({k.created_at[:10]}, {fmt.size(k.size_bytes)}) in {root}",
                markup=False,
                soft_wrap=True,
            )
    total = sum(r.bytes for _, r in reports)
    ctx.print(
        f"{verb} {count} ref(s), {fmt.size(total)}"
        + ("; run again with --apply to delete" if not args.apply else "; `git gc` frees the objects")
    )
    return 0


async def setup_failed(ctx: Context, engine: Engine, session: Session) -> None:
    """After `new`: a failed setup script is an error (E004) with its log's tail, never ignored."""
    from ..engine.errors import AmpsmError, ErrorCode
    from ..engine.models import SessionStatus
    from ..engine.workspace import hook_log, log_tail

    if session.status is not SessionStatus.ERROR:
        return
    path = hook_log(engine.config, session.id, "setup")
    raise AmpsmError(
        ErrorCode.WORKTREE,
        f"setup script failed for {session.id}; log: {path} (`ampsm status {session.id}` shows it)",
        details=log_tail(path),
    )


def print_workspace(ctx: Context, session: Session, ws: dict[str, Any]) -> None:
    """The session's ports and setup log in `status`; the log's tail when the setup failed."""
    from ..engine.workspace import log_tail

    ports = ws.get("ports") or []
    if ports:
        ctx.print(f"ports {ports[0]}-{ports[-1]} (AMPSM_PORT={ports[0]})", markup=False, soft_wrap=True)
    if ws.get("setup_log"):
        ctx.print(f"setup log {ws['setup_log']}", markup=False, soft_wrap=True)
        if session.last_error and "setup script failed" in session.last_error:
            ctx.print("[bold]setup log (tail):[/]")
            ctx.print(log_tail(str(ws["setup_log"])), markup=False, soft_wrap=True)
