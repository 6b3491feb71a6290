"""What never losing work costs: a checkpoint, an archive and a restore on a repository of N files.

    .venv/bin/python bench/safekeep_cost.py [--files 5000] [--changed 100] [--runs 7]

Builds a throw-away repository of N small files (4 KB each), changes `--changed` tracked files and adds
as many untracked ones in a session worktree, then prints the median wall time of: one checkpoint
(a snapshot through a temporary index, then the ref), archive + removal of the worktree, and a
restore of it. Nothing outside the temporary folder is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_repo(path: Path, files: int) -> None:
    path.mkdir(parents=True)
    run = lambda *a: subprocess.run(["git", *a], cwd=path, check=True, capture_output=True)  # noqa: E731
    run("init", "-q", "-b", "main")
    for i in range(files):
        d = path / f"pkg{i // 500}"
        d.mkdir(exist_ok=True)
        (d / f"mod{i}.py").write_text(f"# module {i}\n" + "x = 1\n" * 680)
    run("add", "-A")
    run("commit", "-q", "-m", "init")


def dirty(wt: Path, changed: int, round_: int) -> None:
    for i in range(changed):
        (wt / f"pkg{i // 500}" / f"mod{i}.py").write_text(f"# changed {round_}\n")
        (wt / f"untracked-{i}.txt").write_text(f"new {round_}\n")


async def main(files: int, changed: int, runs: int) -> None:
    from ampsm_tui.engine.checkpoints import take_checkpoint
    from ampsm_tui.engine.git import create_worktree, remove_worktree
    from ampsm_tui.engine.git.safekeep import restore_worktree

    with tempfile.TemporaryDirectory(prefix="ampsm-bench-") as tmp:
        repo = Path(tmp) / "repo"
        make_repo(repo, files)
        t = time.perf_counter()
        info = await create_worktree(repo, "sess-bench", "bench", "main")
        baseline = time.perf_counter() - t
        checkpoint, archive, restore = [], [], []
        for r in range(runs):
            dirty(info.path, changed, r)
            t = time.perf_counter()
            assert await take_checkpoint(info.path, "sess-bench")
            checkpoint.append(time.perf_counter() - t)
            t = time.perf_counter()
            removed = await remove_worktree(repo, info.path, info.branch, session_id="sess-bench")
            archive.append(time.perf_counter() - t)
            assert removed.archive.ref
            t = time.perf_counter()
            await restore_worktree(repo, info.path, info.branch, removed.archive.ref)
            restore.append(time.perf_counter() - t)
        ms = lambda xs: f"{statistics.median(xs) * 1000:.0f} ms"  # noqa: E731
        print(
            f"repo: {files} files, {changed} changed + {changed} untracked; median of {runs} runs (cpus: {os.cpu_count()})"
        )
        print(f"checkpoint (snapshot + ref):      {ms(checkpoint)}")
        print(f"archive + remove worktree:        {ms(archive)}")
        print(f"restore (worktree, index, files): {ms(restore)}")
        print(f"for scale, a new session worktree: {baseline * 1000:.0f} ms (one run)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--files", type=int, default=5000)
    p.add_argument("--changed", type=int, default=100)
    p.add_argument("--runs", type=int, default=7)
    a = p.parse_args()
    asyncio.run(main(a.files, a.changed, a.runs))
