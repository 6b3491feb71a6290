"""`ampsm new --agents a,b --n N`: best-of-N from the command line (engine/bestof.py does the work).

Not a command of its own: `new` hands over here when --agents or --n is given. Prints the candidates
ranked (gate, diff size, cost, time) with the winner marked; landing the winner (`ampsm land`)
archives the others, restorable with `ampsm restore`.
"""

from __future__ import annotations

import argparse

from .context import Context
from .registry import agent_names


async def run_best_of_command(ctx: Context, args: argparse.Namespace, prompt: str) -> int:
    from ..engine.bestof import as_dict, run_best_of
    from ..engine.errors import UsageError

    agents = [a.strip() for a in (args.agents or args.agent).split(",") if a.strip()]
    known = set(agent_names())
    for agent in agents:
        if agent not in known:
            raise UsageError(f"unknown agent {agent!r} in --agents (known: {', '.join(sorted(known))})")
    if "command" in agents and not args.agent_cmd:
        raise UsageError("--agents command needs --agent-cmd")
    if args.agent_cmd and "command" not in agents:
        raise UsageError("--agent-cmd only applies to the command agent")
    engine = await ctx.engine()
    group = await run_best_of(
        engine,
        repo=args.repo,
        name=args.name,
        prompt=prompt,
        agents=agents,
        n=args.n or 1,
        script=args.script,
        agent_cmd=args.agent_cmd,
        model=args.model,
        timeout_s=args.timeout,
        base=args.base,
        setup=args.setup,
        max_cost=args.max_cost,
    )
    if ctx.json:
        ctx.emit_json(as_dict(group))
    else:
        from ..format import cost as fmt_cost

        ctx.print(f"best-of {len(group.candidates)} ({group.id}): ranked by test gate, diff size, cost, time")
        for c in group.candidates:
            mark = "★" if c.session_id == group.winner else " "
            gate = "pass" if c.passed else ("fail" if c.test_exit_code not in (None, 0) else c.status)
            took = f"{c.duration_s:.1f}s" if c.duration_s is not None else "-"
            ctx.print(
                f"{mark} {c.rank}. {c.session_id} {c.agent:<8} gate {gate:<11} ±{c.lines_changed:<5} "
                f"{fmt_cost(c.cost_usd)} {took}",
                markup=False,
            )
        if group.winner:
            ctx.print(f"winner: {group.winner}; `ampsm land {group.winner}` lands it and archives the others")
        else:
            ctx.print("no candidate passed the test gate")
    return 0 if group.winner else 1
