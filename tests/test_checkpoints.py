"""Checkpoints: a snapshot of the worktree on a private ref, made without touching the worktree or
its index, taken only when something changed, and dropped once the iteration commits."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ampsm_tui.engine.checkpoints import Checkpointer, checkpoint_ref, supersede, take_checkpoint
from ampsm_tui.engine.git import create_worktree
from tests.git_helpers import git, write


async def test_checkpoint_leaves_worktree_and_index_alone(repo: Path) -> None:
    info = await create_worktree(repo, "sess-c", "cp", "main")
    wt = info.path
    write(wt / "app.py", "staged\n")
    git(wt, "add", "app.py")
    write(wt / "app.py", "staged, then edited\n")
    write(wt / "new" / "file.txt", "untracked\n")
    before = (git(wt, "status", "--porcelain=v1", "--untracked-files=all"), git(wt, "ls-files", "-s"))
    sha = await take_checkpoint(wt, "sess-c")
    assert sha is not None and git(repo, "rev-parse", checkpoint_ref("sess-c")) == sha
    assert (git(wt, "status", "--porcelain=v1", "--untracked-files=all"), git(wt, "ls-files", "-s")) == before
    assert git(repo, "show", f"{sha}:app.py") == "staged, then edited"
    assert git(repo, "show", f"{sha}:new/file.txt") == "untracked"
    assert git(repo, "show", f"{sha}^2:app.py") == "staged"  # the index, as it was
    assert git(repo, "rev-parse", f"{sha}^1") == git(wt, "rev-parse", "HEAD")
    assert await take_checkpoint(wt, "sess-c") is None  # nothing changed since: no new checkpoint
    await supersede(wt, "sess-c")
    assert git(repo, "for-each-ref", "refs/ampsm/checkpoints/") == ""


async def test_checkpointer_snapshots_while_the_block_runs(repo: Path) -> None:
    info = await create_worktree(repo, "sess-d", "cp", "main")
    async with Checkpointer(info.path, "sess-d", 0.1) as cp:
        for i in range(4):
            write(info.path / f"step{i}.txt", f"{i}\n")
            for _ in range(100):  # wait (bounded) until a checkpoint holds this step
                await asyncio.sleep(0.05)
                if cp.taken > i:
                    break
    assert cp.taken >= 4
    assert git(repo, "show", f"{checkpoint_ref('sess-d')}:step3.txt") == "3"
    async with Checkpointer(info.path, "sess-d", 0) as off:  # 0 disables
        await asyncio.sleep(0.05)
    assert off.taken == 0
