"""Per-instance overhead of the benchmark runner: everything but the agent and the tests.

The agent is a no-op command that appends one line (`sh -c 'echo >> calc/ops.py'`) and the test
command is `/bin/echo`, so what is left is ampsm's own work per instance: the session (worktree,
branch, DB rows, commit), the model-patch diff, the evaluation worktree, the patch-apply chain,
the log and report files, grading and the store updates. Also measured: `--evaluate` alone (no
agent) and, for scale, the same run with the real pytest.

    .venv/bin/python bench/bench_overhead.py [--instances 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.9 * len(ordered)) - 1)]


async def _run(label: str, tmp: Path, dataset: Path, repos: Path, **opts: object) -> None:
    from ampsm_tui.engine.bench.options import RunOptions
    from ampsm_tui.engine.bench.runner import BenchRunner
    from ampsm_tui.engine.config import load_config
    from ampsm_tui.engine.engine import Engine

    config = load_config()
    engine = await Engine.open(config=config)
    options = RunOptions.model_validate(
        {"dataset": str(dataset), "repos_dir": str(repos), "report_dir": str(tmp / f"out-{label}"), **opts}
    )
    started = time.perf_counter()
    try:
        result = await BenchRunner(engine.store, options, engine=engine).run()
    finally:
        await engine.close()
    wall = time.perf_counter() - started
    rows = result.rows
    per = [r.duration_s or 0.0 for r in rows]
    agent = [r.agent_s for r in rows if r.agent_s is not None]
    evals = [r.eval_s for r in rows if r.eval_s is not None]
    parts = []
    if agent:
        parts.append(f"session+agent {statistics.median(agent) * 1000:.0f} ms")
    if evals:
        parts.append(f"evaluation {statistics.median(evals) * 1000:.0f} ms")
    print(
        f"{label:<38} n={len(rows):<3} wall {wall:6.2f}s  per instance: median {statistics.median(per) * 1000:5.0f} ms"
        f"  p90 {_p90(per) * 1000:5.0f} ms  ({', '.join(parts)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=20)
    args = parser.parse_args()
    import bench_fixture

    with tempfile.TemporaryDirectory(prefix="ampsm-bench-overhead-") as name:
        tmp = Path(name)
        os.environ["AMPSM_CONFIG_DIR"] = str(tmp / "home")
        for key, value in bench_fixture.FIXED_ENV.items():
            os.environ.setdefault(key, value)
        fx = bench_fixture.build(tmp / "fx")
        base = [json.loads(line) for line in fx.dataset.read_text().splitlines()]
        rows = []
        for n in range(args.instances):
            row = dict(base[n % len(base)])
            row["instance_id"] = f"{row['instance_id']}-{n:03d}"
            row.pop("eval_script", None)  # the same test path for every instance
            rows.append(row)
        dataset = tmp / "many.jsonl"
        dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
        noop_agent = {"agent": "command", "agent_cmd": "sh -c 'echo \"# touched\" >> calc/ops.py'"}
        print(f"fixture: {args.instances} instances, 1 worker, python {sys.version.split()[0]}")
        asyncio.run(_run("agents (no-op agent, /bin/echo tests)", tmp, dataset, fx.repos_dir,
                         agents=[noop_agent], env_cmd="/bin/echo"))  # fmt: skip
        asyncio.run(_run("evaluate gold (/bin/echo tests)", tmp, dataset, fx.repos_dir,
                         mode="evaluate", predictions="gold", env_cmd="/bin/echo"))  # fmt: skip
        asyncio.run(_run("evaluate gold (real pytest)", tmp, dataset, fx.repos_dir,
                         mode="evaluate", predictions="gold"))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
