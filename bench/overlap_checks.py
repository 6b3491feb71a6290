"""What the overlap check behind `ampsm list` (and the dashboard's ⚠ marks) costs with many live sessions.

Builds real worktrees in a throw-away folder: LONE sessions each alone in its own repo (they cannot
overlap anyone) and SHARED sessions in one repo all editing one file (every pair overlaps and is
merged in memory). Prints the wall time of `find_overlaps` and how many git processes ran, and the
most that ran at once (a `git` shim on PATH logs each call; it execs the real git).

    .venv/bin/python bench/overlap_checks.py [--lone 40] [--shared 8] [--rounds 3]
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


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.email", "bench@example.com")
    _git(path, "config", "user.name", "bench")
    (path / "app.py").write_text("x = 0\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "initial")
    return path


def make_session(repo: Path, n: int) -> object:
    from ampsm_tui.engine.models import Session

    wt = repo / ".worktrees" / f"s{n}"
    _git(repo, "worktree", "add", "-q", "-b", f"amp/s{n}", str(wt), "main")
    (wt / "app.py").write_text(f"x = {n + 1}\n")
    _git(wt, "commit", "-qam", f"s{n}")
    return Session(
        id=f"sess-{n:08d}", name=f"s{n}", repo_path=str(repo), base_branch="main", branch=f"amp/s{n}",
        worktree_path=str(wt),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lone", type=int, default=40)
    parser.add_argument("--shared", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from ampsm_tui.engine.overlap import find_overlaps

    tmp = Path(tempfile.mkdtemp(prefix="ampsm-overlaps-"))
    try:
        lone = [make_session(make_repo(tmp / f"lone{n}"), n) for n in range(args.lone)]
        shared_repo = make_repo(tmp / "shared")
        shared = [make_session(shared_repo, 1000 + n) for n in range(args.shared)]
        log = tmp / "git.log"
        shim = tmp / "shim"
        shim.mkdir()
        real = shutil.which("git")
        (shim / "git").write_text(f'#!/bin/sh\necho s >> {log}\n{real} "$@"\nrc=$?\necho e >> {log}\nexit $rc\n')
        (shim / "git").chmod(0o755)
        os.environ["PATH"] = f"{shim}{os.pathsep}{os.environ['PATH']}"
        for label, sessions in (("lone", lone), ("shared", shared), ("both", [*lone, *shared])):
            times = []
            for _ in range(args.rounds):
                log.write_text("")
                start = time.perf_counter()
                found = asyncio.run(find_overlaps(sessions))  # type: ignore[arg-type]
                times.append(time.perf_counter() - start)
            running = peak = 0
            lines = log.read_text().split()
            for mark in lines:
                running += 1 if mark == "s" else -1
                peak = max(peak, running)
            print(
                f"{label:<7} {len(sessions):>3} sessions: best {min(times) * 1000:7.1f} ms  "
                f"git calls {lines.count('s'):>4}  at most {peak:>3} at once  flagged {len(found)}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
