"""Issue 4's figures: time from `ampsm iterate` start to the agent's first byte, and the
per-iteration overhead (everything but the agent and the test script), with a no-op agent.

The agent is `date +%s.%N` through the `command` adapter: it prints the moment it started (its
first byte) and exits at once, so nearly all the wall time of an iteration is ampsm's own work.
Run: .venv/bin/python bench/iteration_overhead.py [runs]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sh(cwd: Path, *args: str) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    ampsm = str(Path(sys.executable).with_name("ampsm"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**os.environ, "AMPSM_CONFIG_DIR": str(root / "cfg")}
        repo = root / "repo"
        repo.mkdir()
        sh(repo, "git", "init", "-q", "-b", "main")
        for i in range(20):
            (repo / f"m{i}.py").write_text(f"X = {i}\n")
        sh(repo, "git", "add", "-A")
        sh(repo, "git", "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-qm", "init")
        out = subprocess.run(
            [
                ampsm,
                "new",
                "--repo",
                str(repo),
                "--name",
                "noop",
                "--prompt",
                "noop",
                "--agent",
                "command",
                "--agent-cmd",
                "date +%s.%N",
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        sid = json.loads(out.stdout)["id"]
        first_byte, walls = [], []
        for _ in range(runs):
            t0 = time.time()
            p0 = time.perf_counter()
            res = subprocess.run(
                [ampsm, "iterate", sid, "--stream", "--json"], env=env, capture_output=True, text=True, check=False
            )
            walls.append(time.perf_counter() - p0)
            for line in res.stdout.splitlines():
                ev = json.loads(line)
                if ev.get("topic") == "agent.event" and ev["event"].get("kind") == "text":
                    first_byte.append(float(ev["event"]["text"]) - t0)
                    break
        print(
            f"iterate start -> agent first byte: median {statistics.median(first_byte) * 1000:.0f} ms"
            f" (min {min(first_byte) * 1000:.0f}, max {max(first_byte) * 1000:.0f}; {len(first_byte)} runs)"
        )
        print(
            f"whole `ampsm iterate` with a no-op agent (= overhead incl. process start): median "
            f"{statistics.median(walls) * 1000:.0f} ms (min {min(walls) * 1000:.0f}, max {max(walls) * 1000:.0f})"
        )


if __name__ == "__main__":
    main()
