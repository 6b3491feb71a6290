"""`strict_parse` (the lean commands' parse without argparse's parser) against argparse itself:
whatever it answers is argparse's answer, and what it cannot be sure of it leaves to argparse."""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools

import pytest

from ampsm_tui import __version__
from ampsm_tui.commands import load_for
from ampsm_tui.commands.registry import COMMANDS, build_parser, strict_parse


def _argparse(argv: list[str]) -> argparse.Namespace | None:
    """argparse's namespace, or None when it refuses (usage error) or exits (--help)."""
    parser = build_parser(__version__, only=load_for(argv[0]))
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return parser.parse_args(argv)
        except SystemExit:
            return None


SQUASH = [
    ["squash", "sess-1"],
    ["squash", "sess-1", "-m", "feat: x"],
    ["squash", "sess-1", "--message", "feat: x", "--json"],
    ["squash", "--json", "sess-1", "--message=feat: x"],
    ["squash", "sess-1", "--message="],
    ["squash", "-m", "fix", "sess-1"],
    ["squash", "sess-1", "-m", "one", "-m", "two"],  # the last one wins
    ["squash", "sess-1", "-mfix"],  # left to argparse
    ["squash", "sess-1", "--mess", "x"],  # an abbreviation: left to argparse
    ["squash", "sess-1", "-m"],  # a usage error
    ["squash"],  # a usage error
    ["squash", "a", "b"],
    ["squash", "sess-1", "--", "x"],
    ["squash", "sess-1", "--help"],
    ["squash", "sess-1", "-m", "-x"],
    ["squash", "-", "-m", "x"],
    ["squash", "sess-1", "--json=1"],
]
MERGE = [
    ["merge", "sess-1"],
    ["merge", "sess-1", "--keep-worktree"],
    ["merge", "sess-1", "--message", "Merge it", "--json"],
    ["merge", "sess-1", "-m", "x", "--keep-worktree", "--json"],
    ["merge", "sess-1", "--no-such-flag"],
    ["merge", "--keep-worktree"],
]
NEW = [
    ["new", "--name", "x"],
    ["new", "--repo", "/tmp/r", "--name", "s0", "--agent", "command", "--agent-cmd", "true", "--json"],
    ["new", "--name", "x", "--agent", "nope"],  # refused by choices
    ["new", "--name", "x", "--timeout", "5"],
    ["new", "--name", "x", "--timeout", "0"],  # refused by the type
    ["new", "--name", "x", "--timeout=2.5", "--n", "3", "--agents", "amp,claude"],
    ["new", "--name", "x", "--n", "-1"],
    ["new", "--prompt", "fix it", "--name", "x", "--run"],
    ["new", "--repo", "."],  # --name is required
    ["new", "--name", "x", "--run=1"],
    ["new", "--name", "x", "positional"],
    ["new", "--name", "a b", "--prompt", "-"],
    ["new", "--name", "x", "--script", "make test", "--base", "dev", "--model", "high"],
]
LIST = [
    ["list"],
    ["list", "--json"],
    ["list", "--json", "--limit", "5"],
    ["list", "--status", "idle", "--json"],
    ["list", "--limit", "0"],
]


@pytest.mark.parametrize("argv", SQUASH + MERGE + NEW + LIST, ids=lambda a: " ".join(a))
def test_an_answer_is_argparses_answer(argv: list[str]) -> None:
    load_for(argv[0])
    strict = strict_parse(COMMANDS[(argv[0],)], argv[1:])
    if strict is None:
        return  # left to argparse
    parsed = _argparse(argv)
    assert parsed is not None and vars(strict) == vars(parsed)


def test_the_shapes_scripts_write_are_answered() -> None:
    """The common forms never fall back (else the lean commands pay for argparse again)."""
    answered = [
        SQUASH[0], SQUASH[1], SQUASH[2], SQUASH[3], SQUASH[4], SQUASH[5], SQUASH[6],
        MERGE[0], MERGE[1], MERGE[2], MERGE[3],
        NEW[0], NEW[1], NEW[3], NEW[5], NEW[7], NEW[11], NEW[12],
        LIST[0], LIST[1], LIST[2], LIST[3],
    ]  # fmt: skip
    for argv in answered:
        load_for(argv[0])
        assert strict_parse(COMMANDS[(argv[0],)], argv[1:]) is not None, argv


def test_what_argparse_refuses_is_never_answered() -> None:
    for argv in SQUASH + MERGE + NEW + LIST:
        if _argparse(argv) is None:
            load_for(argv[0])
            assert strict_parse(COMMANDS[(argv[0],)], argv[1:]) is None, argv


def test_every_option_order_of_a_merge_gives_the_same_namespace() -> None:
    parts = [["sess-1"], ["--keep-worktree"], ["-m", "msg"], ["--json"]]
    load_for("merge")
    for order in itertools.permutations(parts):
        argv = ["merge", *itertools.chain.from_iterable(order)]
        strict = strict_parse(COMMANDS[("merge",)], argv[1:])
        parsed = _argparse(argv)
        assert strict is not None and parsed is not None and vars(strict) == vars(parsed)
