"""`ampsm demo`: a living demo on a throw-away workspace (its own config dir, DB and git repo)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .context import Context
from .registry import arg, command

if TYPE_CHECKING:
    from ..demo.scenario import DemoResult
    from ..demo.workspace import DemoWorkspace
    from ..engine.engine import Engine


def _speed(value: str) -> float:
    try:
        speed = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if speed < 0:
        raise argparse.ArgumentTypeError("the speed cannot be negative (0 means no pauses)")
    return speed


async def summary(engine: Engine, ws: DemoWorkspace) -> dict[str, Any]:
    roles = ws.roles()
    by_id = {v: k for k, v in roles.items()}
    sessions = []
    for s in sorted(await engine.store.list_sessions(), key=lambda s: s.created_at):
        its = await engine.store.list_iterations(s.id)
        sessions.append(
            {
                "role": by_id.get(s.id, "batch item" if s.batch_item_id else ""),
                "id": s.id,
                "name": s.name,
                "status": str(s.status),
                "branch": s.branch,
                "iterations": len(its),
                "last_test": s.last_test_exit,
                "commit": its[-1].commit_sha if its else None,
            }
        )
    batches = [{"id": b.id, "name": b.name, "status": str(b.status)} for b in await engine.store.list_batches()]
    return {"workspace": str(ws.root), "repo": str(ws.repo), "sessions": sessions, "batches": batches}


def _test_label(code: int | None) -> str:
    return "-" if code is None else ("pass" if code == 0 else f"fail ({code})")


def _print_summary(ctx: Context, data: dict[str, Any]) -> None:
    """Plain lines (no table wrapping): the summary is read on narrow pipes and in CI logs."""
    ctx.print(f"ampsm demo workspace: {data['workspace']}", markup=False)
    ctx.print(f"{'ROLE':<10} {'ID':<13} {'STATUS':<14} {'TEST':<8} {'BRANCH'}  NAME", markup=False)
    for s in data["sessions"]:
        line = f"{s['role']:<10} {s['id']:<13} {s['status']:<14} {_test_label(s['last_test']):<8} {s['branch']}"
        ctx.print(f"{line}  {s['name']}", markup=False, soft_wrap=True)
    for b in data["batches"]:
        ctx.print(f"batch {b['id']} {b['name']}: {b['status']}", markup=False)
    ctx.print(f"Look around: AMPSM_CONFIG_DIR={data['workspace']} ampsm list", markup=False, soft_wrap=True)
    ctx.print(f"The TUI on it: AMPSM_CONFIG_DIR={data['workspace']} ampsm", markup=False, soft_wrap=True)


async def _build(ws: DemoWorkspace, speed: float) -> tuple[Any, DemoResult, dict[str, Any]]:
    from ..demo.scenario import build_sessions
    from ..engine.config import load_config
    from ..engine.engine import Engine

    config = load_config()
    engine = await Engine.open(config)
    try:
        result = await build_sessions(engine, ws, speed=speed)
        data = await summary(engine, ws)
    finally:
        await engine.close()
    return config, result, data


@command(
    "demo",
    "build a demo workspace (own config dir, DB and repo) with sessions in every state, then open the TUI",
    arg("--dir", type=Path, help="where to build it (default: <config dir>/demo); reset on every run"),
    arg("--speed", type=_speed, default=1.0, help="pace of the scripted agent (1 = human pace, 0 = no pauses)"),
    arg("--headless", action="store_true", help="no TUI: build the sessions and print a summary"),
    arg("--screenshots", type=Path, metavar="DIR", help="save SVG screenshots of the main screens to DIR and exit"),
    json=True,
)
async def demo(args: argparse.Namespace, ctx: Context) -> int:
    from ..demo import workspace

    ws = workspace.build(args.dir)
    ws.activate()  # from here on, this process only knows the demo's config dir and DB
    if not (args.headless or args.screenshots) and not ctx.json:
        ctx.print(f"Building the demo workspace in {ws.root} …", markup=False)
    config, _result, data = await _build(ws, args.speed)
    if args.screenshots:
        from ..demo.screenshots import save_screenshots

        saved = await save_screenshots(config, ws, Path(args.screenshots))
        if ctx.json:
            ctx.emit_json({**data, "screenshots": [str(p) for p in saved]})
        else:
            for path in saved:
                ctx.print(f"saved {path}", markup=False)
        return 0
    if args.headless or ctx.json:
        if ctx.json:
            ctx.emit_json(data)
        else:
            _print_summary(ctx, data)
        return 0
    from ..demo.tui import run_demo_tui

    ctx.print(
        f"Opening the TUI on {ws.root / 'sessions.db'} (q quits).\n"
        f"From another shell while it runs: AMPSM_CONFIG_DIR={ws.root} ampsm list",
        markup=False,
        soft_wrap=True,
    )
    code = await run_demo_tui(config, ws, speed=args.speed)
    ctx.print(
        f"The demo workspace stays in {ws.root} until the next `ampsm demo`.\n"
        f"Its sessions from the shell: AMPSM_CONFIG_DIR={ws.root} ampsm list",
        markup=False,
    )
    return code
