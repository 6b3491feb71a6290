"""Batch throughput: N items whose agent sleeps 1 s, at concurrency C (default 200 items, C=8).

Ideal wall time is ceil(N / C) × 1 s (25 s for the defaults). Prints the wall time and its ratio
to the ideal, and the orchestrator's CPU time per item: this process only (scheduler, session
service, store, event bus) and, separately, its child processes (git and the agents).

    .venv/bin/python bench/batch_throughput.py [--items 200] [--concurrency 8] [--repos 4] [--sleep 1]

Runs the real engine (worktrees, commits, SQLite) in a throw-away folder; nothing else is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_repo(path: Path) -> None:
    path.mkdir(parents=True)
    run = lambda *a: subprocess.run(["git", *a], cwd=path, check=True, capture_output=True)  # noqa: E731
    run("init", "-q", "-b", "main")
    (path / "README.md").write_text("bench\n")
    run("add", "-A")
    run("commit", "-q", "-m", "init")


async def main(items: int, concurrency: int, repos: int, sleep: float, keep: bool, serial: bool = False) -> None:
    from ampsm_tui.engine.batch import load_batch
    from ampsm_tui.engine.engine import Engine
    from ampsm_tui.engine.models import BatchItemStatus
    from ampsm_tui.engine.scheduler import BatchScheduler, create_batch, engine_run_item

    work = Path(tempfile.mkdtemp(prefix="ampsm-bench-"))
    os.environ["AMPSM_CONFIG_DIR"] = str(work / "home")
    for key, value in {
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }.items():
        os.environ.setdefault(key, value)
    per_repo = math.ceil(items / repos)
    for r in range(repos):
        make_repo(work / f"repo{r}")
    lines = ["name: throughput", "repos:", *[f"  - path: repo{r}" for r in range(repos)], "items:"]
    for i in range(per_repo):
        lines += [
            f"  - name: item{i}",
            f"    prompt: bench {i}",
            "    agent: command",
            f'    agentCmd: sh -c "sleep {sleep}; echo {i} > out.txt"',
        ]
    lines.append(f"concurrency: {concurrency}")
    f = work / "batch.yaml"
    f.write_text("\n".join(lines) + "\n")

    plan = load_batch(f)
    plan.items = plan.items[:items]
    engine = await Engine.open()
    try:
        run = await create_batch(engine.store, plan, concurrency)
        load0 = os.getloadavg()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = await BatchScheduler(
            engine.store, run.id, engine_run_item(engine), bus=engine.bus, pipelined=not serial
        ).run()
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        child_cpu = (child1.ru_utime + child1.ru_stime) - (child0.ru_utime + child0.ru_stime)
        rows = await engine.store.list_batch_items(run.id)
        ok = sum(1 for i in rows if i.status == BatchItemStatus.SUCCEEDED)
    finally:
        await engine.close()
    ideal = math.ceil(items / concurrency) * sleep
    mode = "serial" if serial else "pipelined"
    print(f"items={items} concurrency={concurrency} repos={repos} agent sleep={sleep}s {mode} status={result.status}")
    load1 = os.getloadavg()
    print(
        f"load average before {load0[0]:.2f} {load0[1]:.2f}, after {load1[0]:.2f} {load1[1]:.2f} ({os.cpu_count()} cores)"
    )
    print(f"succeeded {ok}/{items}")
    print(f"wall time {wall:.1f}s, ideal {ideal:.1f}s, ratio {wall / ideal:.2f}")
    print(f"orchestrator CPU (this process) {cpu:.2f}s = {1000 * cpu / items:.1f} ms/item")
    print(f"child CPU (git + agents) {child_cpu:.2f}s = {1000 * child_cpu / items:.1f} ms/item")
    if keep:
        print(f"workspace kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--repos", type=int, default=4)
    p.add_argument("--sleep", type=float, default=1.0)
    p.add_argument("--keep", action="store_true", help="keep the throw-away workspace")
    p.add_argument(
        "--serial", action="store_true", help="hold a slot for each item's whole life (not pipelined), to compare"
    )
    a = p.parse_args()
    asyncio.run(main(a.items, a.concurrency, a.repos, a.sleep, a.keep, a.serial))
