"""`ampsm test-git`: the whole git cycle in a throw-away clone, step by step.

The user's repository is only read (by `git clone`); every write happens in the clone, which is
deleted afterwards, so the command is safe to run on any repository to see that ampsm works there.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AmpsmError, ErrorCode
from .cleanup import clean, find_orphans
from .commits import commit_iteration, identity_options
from .diffs import diff_files
from .integrate import merge, rebase, squash
from .repo import current_branch, repo_paths, rev
from .runner import git, git_out
from .worktrees import create_worktree, remove_worktree

SCRATCH = "ampsm-selftest/base"
SESSION = "selftest-1"


@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class SelfTestReport:
    repo: str
    base: str
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)


async def run_selftest(
    repo: Path | str, *, base: str | None = None, on_step: Callable[[Step], None] | None = None
) -> SelfTestReport:
    root = Path((await repo_paths(repo)).root)
    base = base or await current_branch(root)
    if base is None or await rev(root, f"refs/heads/{base}") is None:
        raise AmpsmError(ErrorCode.GIT, f"no base branch to test with in {root} (pass --base)")
    report = SelfTestReport(repo=str(root), base=base)
    tmp = Path(tempfile.mkdtemp(prefix="ampsm-test-git-"))
    clone = tmp / "clone"
    state: dict[str, str] = {}

    async def step(name: str, action: Callable[[], Awaitable[str]]) -> bool:
        started = time.perf_counter()
        try:
            detail, ok = await action(), True
        except Exception as exc:
            detail, ok = f"{type(exc).__name__}: {exc}", False
        done = Step(name, ok, detail, round(time.perf_counter() - started, 3))
        report.steps.append(done)
        if on_step:
            on_step(done)
        return ok

    async def do_clone() -> str:
        await git("clone", "--quiet", "--no-checkout", "--branch", base, root, clone, cwd=tmp)
        await git("checkout", "--quiet", "--detach", cwd=clone)
        await git("branch", SCRATCH, "HEAD", cwd=clone)
        return f"cloned {root} into a temporary directory; scratch branch {SCRATCH} at {base}"

    async def do_create() -> str:
        info = await create_worktree(clone, SESSION, "ampsm self test", SCRATCH)
        state.update(path=str(info.path), branch=info.branch)
        return f"worktree .worktrees/{SESSION} on {info.branch}"

    async def do_commit() -> str:
        wt = Path(state["path"])
        (wt / "ampsm-selftest-1.txt").write_text("one\n")
        first = await commit_iteration(wt, "self test one", session_id=SESSION, iteration=1)
        (wt / "ampsm-selftest-2.txt").write_text("two\n")
        second = await commit_iteration(wt, "self test two", session_id=SESSION, iteration=2)
        nothing = await commit_iteration(wt, "no change", session_id=SESSION, iteration=3)
        if first is None or second is None or nothing is not None:
            raise AmpsmError(ErrorCode.GIT, "iteration commits did not record the changes as expected")
        (wt / "ampsm-selftest-manual.txt").write_text("manual\n")
        ident = await identity_options(wt)
        await git("add", "ampsm-selftest-manual.txt", cwd=wt)
        await git(*ident, "commit", "--quiet", "--no-verify", "-m", "manual commit", cwd=wt)
        return f"2 amp: commits ({first.sha[:8]}, {second.sha[:8]}), 1 manual commit, no commit when nothing changed"

    async def do_diff() -> str:
        files = await diff_files(Path(state["path"]), SCRATCH)
        if len(files) != 3:
            raise AmpsmError(ErrorCode.GIT, f"expected 3 changed files, got {[f.path for f in files]}")
        return f"{len(files)} files changed against the merge-base"

    async def do_squash() -> str:
        wt = Path(state["path"])
        tree = await git_out("rev-parse", "HEAD^{tree}", cwd=wt)
        new = await squash(wt, SCRATCH, "ampsm self test", manual="keep")
        if await git_out("rev-parse", "HEAD^{tree}", cwd=wt) != tree:
            raise AmpsmError(ErrorCode.GIT, "squash changed the tree")
        count = await git_out("rev-list", "--count", f"{SCRATCH}..HEAD", cwd=wt)
        return f"squashed to {new[:8]} ({count} commits: the manual one kept), tree unchanged"

    async def do_rebase() -> str:
        parent = await git_out("rev-parse", SCRATCH, cwd=clone)
        ident = await identity_options(clone)
        moved = await git_out(
            *ident, "commit-tree", f"{parent}^{{tree}}", "-p", parent, "-m", "scratch moves", cwd=clone
        )
        await git("update-ref", f"refs/heads/{SCRATCH}", moved, parent, cwd=clone)
        result = await rebase(Path(state["path"]), SCRATCH)
        if not result.ok:
            raise AmpsmError(ErrorCode.GIT, f"rebase conflicted on {result.conflicts}")
        return f"rebased onto the moved scratch branch ({moved[:8]})"

    async def do_merge() -> str:
        result = await merge(clone, Path(state["path"]), state["branch"], SCRATCH, mode="ff")
        if not result.ok:
            raise AmpsmError(ErrorCode.GIT, f"merge conflicted on {result.conflicts}")
        return f"merged into {SCRATCH} ({'fast-forward' if result.fast_forward else 'merge commit'})"

    async def do_cleanup() -> str:
        removed = await remove_worktree(clone, Path(state["path"]), state["branch"], session_id=SESSION)
        orphans = await find_orphans(clone, {})
        await clean(clone, orphans)
        left = await git_out("worktree", "list", "--porcelain", cwd=clone)
        if left.count("worktree ") != 1:
            raise AmpsmError(ErrorCode.GIT, "worktrees left behind after clean-up")
        return "worktree and branch removed" + (f"; kept {removed.archive.ref}" if removed.archive.ref else "")

    try:
        for name, action in (
            ("clone", do_clone),
            ("create worktree", do_create),
            ("commit iterations", do_commit),
            ("diff", do_diff),
            ("squash", do_squash),
            ("rebase", do_rebase),
            ("merge", do_merge),
            ("clean up", do_cleanup),
        ):
            if not await step(name, action):
                break
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report
