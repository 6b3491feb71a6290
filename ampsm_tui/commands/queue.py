"""`ampsm queue add ID…`, `queue run`, `queue status`: the merge queue (engine/queue.py).

Sessions land one at a time onto the up-to-date base through the same `land` as the review wizard,
the test gate re-run on the merged tree; a conflict or a red gate takes a session out (its branch
untouched, the reason shown) and the queue goes on.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .context import Context
from .registry import arg, command, group

if TYPE_CHECKING:
    from ..engine.queue import QueueEntry

group("queue", "land sessions one at a time onto the up-to-date base (a merge queue)")

_STYLE = {"queued": "dim", "landing": "yellow", "landed": "green", "removed": "red"}


def _doc(entries: list[QueueEntry]) -> list[dict[str, Any]]:
    return [e.model_dump(mode="json") for e in entries]


def _show(ctx: Context, entries: list[QueueEntry]) -> None:
    if not entries:
        ctx.print("the merge queue is empty")
        return
    for e in entries:
        what = e.sha[:10] if e.status == "landed" and e.sha else (e.reason or "")
        ctx.print(f"[{_STYLE[e.status]}]{e.status:<8}[/] {e.session_id}  {e.branch or '-'} → {e.base_branch}  ", end="")
        ctx.print(what, markup=False)


async def _run(ctx: Context) -> int:
    from ..engine.queue import MergeQueue

    queue = MergeQueue(await ctx.engine())
    done = await queue.run()
    if done is None:
        message = "another process is running the merge queue; it takes the queued entries"
        if ctx.json:
            ctx.emit_json({"running_elsewhere": True, "entries": _doc(queue.entries()), "message": message})
        else:
            ctx.print(message)
        return 0
    if ctx.json:
        ctx.emit_json({"running_elsewhere": False, "entries": _doc(done)})
    else:
        _show(ctx, done)
    return 0 if all(e.status == "landed" for e in done) else 1


@command(
    "queue add",
    "queue sessions to land one at a time (then run the queue unless --no-run)",
    arg("ids", nargs="+", metavar="ID", help="session ids or unique prefixes, in landing order"),
    arg("--no-run", action="store_true", help="only queue them (`ampsm queue run` lands them)"),
    json=True,
)
async def queue_add(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine.queue import MergeQueue

    added = await MergeQueue(await ctx.engine()).add(list(args.ids))
    if args.no_run:
        if ctx.json:
            ctx.emit_json({"added": _doc(added)})
        else:
            ctx.print(f"queued {len(added)} session(s); `ampsm queue run` lands them")
        return 0
    return await _run(ctx)


@command("queue run", "land every queued session, one at a time", json=True)
async def queue_run(args: argparse.Namespace, ctx: Context) -> int:
    return await _run(ctx)


@command(
    "queue status",
    "the merge queue: queued, landing, landed (with the base tip) and removed (with the reason)",
    json=True,
)
async def queue_status(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine.queue import MergeQueue

    entries = MergeQueue(await ctx.engine()).entries()
    if ctx.json:
        ctx.emit_json(_doc(entries))
    else:
        _show(ctx, entries)
    return 0
