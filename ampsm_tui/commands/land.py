"""`ampsm land ID`: the review wizard's plan and guarantee for scripts (the same engine call).

Squash (or keep the history), rebase, re-run the tests and merge, as one operation. A conflict or a
failing test stops the land with the session's work untouched in its worktree: resolve and
`--resume`, or `--abort`, which restores the branch tip the land started from (a squash undone).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .context import Context
from .registry import arg, command

if TYPE_CHECKING:
    from ..engine.overlap import Overlap
    from ..engine.review import LandPlan, LandResult


def _plan(args: argparse.Namespace) -> LandPlan:
    from ..engine.errors import UsageError
    from ..engine.review import LandPlan

    if args.keep_history and args.message is not None:
        raise UsageError("--message is the squash commit's message; it does not go with --keep")
    mode = args.merge_mode
    return LandPlan(
        squash=not args.keep_history,
        message=args.message,
        rebase=not args.no_rebase,
        onto=args.onto,
        retest=args.retest,
        merge_mode=mode,
        merge_message=args.merge_message,
        remove_worktree=False if args.keep_worktree else None,
    )


def _show(ctx: Context, result: LandResult) -> None:
    marks = {"done": "[green]✓[/]", "skipped": "[dim]·[/]", "failed": "[red]✗[/]", "conflict": "[red]✗[/]"}
    for step in result.steps:
        ctx.print(f"{marks[step.status]} {step.step:<7} ", end="")
        ctx.print(step.detail, markup=False)


@command(
    "land",
    "land a session as one operation: squash (or keep), rebase, re-test, merge; a conflict can be resumed or undone",
    arg("id", help="session id or unique prefix"),
    arg(
        "--squash",
        dest="keep_history",
        action="store_false",
        default=False,
        help="squash the amp: commits into one (default)",
    ),
    arg("--keep", dest="keep_history", action="store_true", help="keep the branch history (no squash)"),
    arg("--message", "-m", help="the squash commit's message (default: written from the iterations)"),
    arg("--onto", help="rebase onto this branch (default: the session's base branch)"),
    arg("--no-rebase", action="store_true", help="merge without rebasing first"),
    arg("--retest", dest="retest", action="store_true", default=None, help="re-run the test script before merging"),
    arg("--no-retest", dest="retest", action="store_false", help="do not re-run the tests (default: re-run if any)"),
    arg("--ff", dest="merge_mode", action="store_const", const="ff", help="fast-forward when possible"),
    arg("--no-ff", dest="merge_mode", action="store_const", const="no-ff", help="always a merge commit"),
    arg("--ff-only", dest="merge_mode", action="store_const", const="ff-only", help="fast-forward or fail"),
    arg("--merge-message", help="the merge commit's message (when not a fast-forward)"),
    arg("--keep-worktree", action="store_true", help="keep the worktree and branch after merging"),
    arg("--resume", "--continue", action="store_true", help="finish a stopped land after resolving the files"),
    arg("--abort", action="store_true", help="undo a stopped land: everything as before it started"),
    json=True,
)
async def land(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine.errors import AmpsmError, ErrorCode, UsageError

    if args.resume and args.abort:
        raise UsageError("--resume and --abort exclude each other")
    engine = await ctx.engine()
    overlaps: list[Overlap] = []
    if args.abort:
        result = await engine.review.abort(args.id)
    elif args.resume:
        result = await engine.review.resume(args.id, retest=args.retest)
    else:
        from ..engine.overlap import overlaps_of

        session = await engine.sessions.get(args.id)  # before landing: who else is touching these files
        overlaps = await overlaps_of(session, await engine.store.list_sessions(repo_path=session.repo_path))
        for o in overlaps if not ctx.json else []:
            ctx.print(f"⚠ {o.describe()}", markup=False)
        result = await engine.review.land(args.id, _plan(args))
    if not ctx.json:
        _show(ctx, result)
    if result.stopped:
        how = f"then `ampsm land {result.session_id} --resume`, or `--abort` to undo the land"
        if result.conflict is not None:
            files = ", ".join(result.conflict.files)
            message = f"{result.conflict.operation} conflicts in {files}; resolve them in {result.conflict.path}, {how}"
            raise AmpsmError(ErrorCode.GIT, message, data=result.to_dict())
        message = f"{result.message}; fix them and {how} (`--resume --no-retest` skips the tests)"
        raise AmpsmError(ErrorCode.TEST_FAILED, message, data=result.to_dict())
    archived: list[str] = []
    if result.landed:  # a best-of winner: the other candidates are archived (kept, restorable)
        from ..engine.bestof import archive_the_others

        archived = await archive_the_others(engine, result.session_id)
        if archived and not ctx.json:
            ctx.print(f"archived the other candidates: {', '.join(archived)} (`ampsm restore ID` brings one back)")
    if ctx.json:
        ctx.emit_json({**result.to_dict(), "overlaps": [o.to_dict() for o in overlaps], "archived": archived})
    elif result.landed:
        ctx.print(
            f"landed {result.session_id} on {result.base_branch}" + (f": {result.sha[:10]}" if result.sha else "")
        )
    else:
        ctx.print(f"land of {result.session_id} aborted: {result.message}")
    return 0
