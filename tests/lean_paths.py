"""The two paths of a lean command, called directly for the tests that compare them
(`tests/test_lean_*.py`): the lean one (`Command.fast`) and the full handler."""

from __future__ import annotations

import asyncio
import typing

from ampsm_tui.commands import load_for
from ampsm_tui.commands.context import Context
from ampsm_tui.commands.registry import COMMANDS, build_parser


def parse(*argv: str) -> typing.Any:
    return build_parser("test", only=load_for(argv[0])).parse_args(list(argv))


def run_lean(argv: list[str]) -> int | None:
    """The command's lean path: its status, or None when it declined (having written nothing)."""
    args = parse(*argv)
    return COMMANDS[(argv[0],)].fast(args, Context(args))  # type: ignore[misc]


def run_full(argv: list[str]) -> int:
    """The command's full handler, with its own engine and event loop."""
    args = parse(*argv)
    ctx = Context(args)

    async def run() -> int:
        try:
            return int(await args._command.handler(args, ctx))
        finally:
            await ctx.close()

    return asyncio.run(run())
