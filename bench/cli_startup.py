"""Median wall time of `ampsm --version` and `ampsm doctor` (issue 2's closing-note figures).

Run: .venv/bin/python bench/cli_startup.py [runs]
Uses a throw-away AMPSM_CONFIG_DIR so the user's data is never touched.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    ampsm = str(Path(sys.executable).with_name("ampsm"))
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "AMPSM_CONFIG_DIR": tmp}
        subprocess.run([ampsm, "doctor"], env=env, capture_output=True, check=False)  # warm: create the DB
        for label, argv in (("ampsm --version", [ampsm, "--version"]), ("ampsm doctor", [ampsm, "doctor"])):
            times = measure(argv, runs, env)
            print(
                f"{label:<16} median {statistics.median(times) * 1000:7.1f} ms"
                f"  min {min(times) * 1000:7.1f} ms  max {max(times) * 1000:7.1f} ms  ({runs} runs)"
            )


if __name__ == "__main__":
    main()
