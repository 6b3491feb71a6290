"""Ray executor overhead per item, against the local executor (issue 20).

The same batch (N items over 2 repos, an agent that writes one file and exits) runs once with the
local executor and once with `--executor ray` on Ray's multi-node test cluster on this machine (a
head and a worker, one CPU each), both at the same concurrency. Prints each run's wall time, the
wall time per item, and the difference per item: what shipping the repo to a worker as a bundle,
the task, the worker's private engine and bringing the branch and rows back cost on top of a local
session. Cluster start-up is not counted (a real cluster is already up).

    .venv/bin/python bench/ray_overhead.py [--items 20] [--concurrency 2]

Runs in a throw-away folder; nothing else is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


def batch_file(folder: Path, items: int) -> Path:
    import yaml

    make_repo(folder / "one")
    make_repo(folder / "two")
    spec = {
        "name": "ray overhead",
        "repos": [{"path": "./one"}, {"path": "./two"}],
        "items": [
            {"name": f"item {n}", "prompt": f"item {n}", "agent": "command", "agentCmd": f"echo {n} > out.txt"}
            for n in range(max(1, items // 2))
        ],
    }
    path = folder / "batch.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


async def timed(engine: object, path: Path, concurrency: int, executor: str) -> tuple[float, int]:
    from ampsm_tui.engine.batch import load_batch

    plan = load_batch(path)
    start = time.perf_counter()
    run = await engine.batches.start(plan, concurrency, executor=executor)  # type: ignore[attr-defined]
    wall = time.perf_counter() - start
    assert str(run.status) == "done", run.status
    return wall, len(plan.items)


async def main(items: int, concurrency: int) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from ampsm_tui.engine.engine import Engine

    work = Path(tempfile.mkdtemp(prefix="ampsm-bench-ray-"))
    os.environ["AMPSM_CONFIG_DIR"] = str(work / "home")
    for key in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        os.environ.setdefault(key, "bench")
    for key in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        os.environ.setdefault(key, "bench@example.com")
    node = {"num_cpus": 1, "include_dashboard": False, "object_store_memory": 80 * 1024 * 1024}
    cluster = Cluster(initialize_head=True, head_node_args=dict(node))
    cluster.add_node(**node)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        engine = await Engine.open()
        try:
            await timed(engine, batch_file(work / "warm", 2), concurrency, "ray")  # worker processes start
            local, n = await timed(engine, batch_file(work / "local", items), concurrency, "local")
            remote, _ = await timed(engine, batch_file(work / "ray", items), concurrency, "ray")
        finally:
            await engine.close()
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{n} items over 2 repos, concurrency {concurrency}, cluster: 2 nodes x 1 CPU on this machine")
    print(f"local executor: {local:6.2f} s wall, {local / n * 1000:7.0f} ms per item")
    print(f"ray executor:   {remote:6.2f} s wall, {remote / n * 1000:7.0f} ms per item")
    print(f"overhead:       {(remote - local) / n * 1000:+7.0f} ms per item ({remote / local:.2f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.items, args.concurrency))
