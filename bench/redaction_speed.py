"""Redaction throughput: lines per second through `secrets.redact` (the engine's environment) and
through a prebuilt `Redactor` (what the agent stream uses), on a realistic mix of stream lines.

    .venv/bin/python bench/redaction_speed.py [--old path/to/old_secrets.py]

`--old` loads an earlier version of engine/secrets.py from a file to compare before/after."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time
from collections.abc import Callable

from ampsm_tui.engine import secrets


def lines(n: int) -> list[str]:
    base = [
        json.dumps({"type": "assistant", "message": {"content": [{"type": "text", "text": "Editing app.py to fix"}]}}),
        json.dumps({"type": "tool_use", "name": "Bash", "input": {"command": "pytest -q tests/test_app.py"}}),
        "plain progress line: 42 files checked, 0 errors",
        json.dumps({"type": "tool_result", "content": "see https://github.com/org/repo/pull/12 for details"}),
        json.dumps({"type": "result", "usage": {"input_tokens": 1200, "output_tokens": 80}, "ok": True}),
        "x" * 400,
    ]
    return [base[i % len(base)] + f" #{i}" for i in range(n)]


def rate(fn: Callable[[str], str], data: list[str], rounds: int = 5) -> float:
    runs = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for line in data:
            fn(line)
        runs.append(len(data) / (time.perf_counter() - t0))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", help="an older secrets.py to compare with")
    parser.add_argument("--lines", type=int, default=50_000)
    args = parser.parse_args()
    os.environ.setdefault("AMP_API_KEY", "bench-amp-key-VALUE-1234567890")
    data = lines(args.lines)
    print(f"{len(data)} lines, median of 5 rounds")
    if args.old:
        spec = importlib.util.spec_from_file_location("old_secrets", args.old)
        assert spec and spec.loader
        old = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old)
        print(f"before  redact():            {rate(old.redact, data):>10,.0f} lines/s")
    print(f"now     redact():            {rate(secrets.redact, data):>10,.0f} lines/s")
    prebuilt = secrets.Redactor([os.environ["AMP_API_KEY"]])
    print(f"now     Redactor (prebuilt): {rate(prebuilt, data):>10,.0f} lines/s")


if __name__ == "__main__":
    main()
