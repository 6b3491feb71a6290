"""A limit of zero or less is a usage error with the flag named, never a silent no-limit or a run
that fails later: every numeric limit of bench, batch and list goes through one argument type."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli

BAD = [
    ("bench", "start", "--dataset", "x.jsonl", "--timeout", "-1"),
    ("bench", "start", "--dataset", "x.jsonl", "--agent-timeout", "0"),
    ("bench", "start", "--dataset", "x.jsonl", "--max-cost", "-5"),
    ("bench", "start", "--dataset", "x.jsonl", "--max-cost", "nan"),
    ("bench", "start", "--dataset", "x.jsonl", "--workers", "0"),
    ("bench", "start", "--dataset", "x.jsonl", "--limit", "-3"),
    ("bench", "list", "--limit", "0"),
    ("list", "--limit", "0"),
    ("new", "--name", "x", "--prompt", "y", "--timeout", "-2"),
    ("iterate", "sess-x", "--max-cost", "0"),
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) for a in BAD])
def test_a_limit_of_zero_or_less_is_a_usage_error(args: tuple[str, ...]) -> None:
    out = run_cli(*args)
    assert out.returncode == 2, out.stderr
    flag = [a for a in args if a.startswith("--")][-1]
    assert f"argument {flag}" in out.stderr and ("greater than 0" in out.stderr or "1 or more" in out.stderr)
