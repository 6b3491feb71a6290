"""Checkpoints: a snapshot of the worktree on a private ref, made without touching the worktree or
its index, taken only when something changed, and dropped once the iteration commits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ampsm_tui.engine.checkpoints import Checkpointer, checkpoint_ref, supersede, take_checkpoint
from ampsm_tui.engine.git import create_worktree
from tests.conftest import run_cli
from tests.git_helpers import git, write
from tests.test_safekeep import new_session


async def test_checkpoint_leaves_worktree_and_index_alone(repo: Path) -> None:
    info = await create_worktree(repo, "sess-c", "cp", "main")
    wt = Path(info.path)
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
    async with Checkpointer(Path(info.path), "sess-d", 0.1) as cp:
        for i in range(4):
            write(Path(info.path) / f"step{i}.txt", f"{i}\n")
            for _ in range(100):  # wait (bounded) until a checkpoint holds this step
                await asyncio.sleep(0.05)
                if cp.taken > i:
                    break
    assert cp.taken >= 4
    assert git(repo, "show", f"{checkpoint_ref('sess-d')}:step3.txt") == "3"
    async with Checkpointer(Path(info.path), "sess-d", 0) as off:  # 0 disables
        await asyncio.sleep(0.05)
    assert off.taken == 0


def test_an_iteration_commit_drops_the_checkpoint_of_its_turn_and_a_first_turn_without_one_deletes_nothing(
    repo: Path, tmp_path: Path, isolated_env: Path
) -> None:
    """A first turn that took a checkpoint has it superseded by its commit; a first turn that took
    none has no checkpoint ref to drop, so it runs no `update-ref -d` for one (git's own trace)."""
    config = isolated_env / "config.yaml"
    config.write_text("workspace:\n  checkpoint_interval: 0.2s\n")
    ref = 'refs/ampsm/checkpoints/"$AMPSM_SESSION_ID"'
    waits = f"echo a > a.txt; until git rev-parse -q --verify {ref} >/dev/null; do sleep 0.05; done"
    s = new_session(repo, agent_cmd=waits)  # its agent ends only once a checkpoint holds its change
    out = run_cli("iterate", s["id"], "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["commit_sha"]
    assert git(repo, "for-each-ref", "refs/ampsm/checkpoints/") == ""

    config.write_text("workspace:\n  checkpoint_interval: 1h\n")
    trace = tmp_path / "trace2.txt"
    quick = new_session(repo, agent_cmd="echo b > b.txt")
    out = run_cli("iterate", quick["id"], "--json", env={"GIT_TRACE2": str(trace)})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["commit_sha"]
    traced = trace.read_text()
    assert " commit " in traced or " commit-tree " in traced or "write-tree" in traced  # the trace works
    assert "refs/ampsm/checkpoints/" not in traced
