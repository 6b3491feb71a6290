"""The git runner's two drivers: a thread per call under an event loop, and `run_sync` with no
event loop at all (the lean CLI paths). Real git, real repositories, real processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ampsm_tui.engine.git import RepoLock, create_worktree, remove_worktree, repo_paths
from ampsm_tui.engine.git.runner import Suspended, git, in_sync_mode, run_sync

from .test_git_locks import _holder


def _git_pids_with(marker: str) -> list[int]:
    """Live `git` processes whose command line holds `marker`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if argv and argv[0].endswith(b"git") and marker.encode() in b" ".join(argv) and state != "Z":
            pids.append(int(entry.name))
    return pids


def _slow(marker: str, record: Path | None = None) -> tuple[str, ...]:
    """A git call that runs until killed: an alias that sleeps (the marker names it in `ps`). With
    `record`, the alias's shell writes its pid there, and its child's (a background sleep)."""
    if record is None:
        return ("-c", f"alias.slow=!sleep 30 # {marker}", "slow")
    alias = f'!f() {{ : {marker}; echo $$ >> "$1"; sleep 30 & echo $! >> "$1"; wait; }}; f'
    return ("-c", f"alias.slow={alias}", "slow", str(record))


def _recorded(record: Path) -> list[int]:
    return [int(p) for p in record.read_text().split()] if record.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_a_call_runs_git_and_keeps_its_output(repo: Path) -> None:
    res = await git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo)
    assert res.ok and res.out == "main"
    bad = await git("rev-parse", "--verify", "no-such-ref", cwd=repo, check=False)
    assert not bad.ok and bad.returncode == 128 and "fatal" in bad.stderr


async def test_cancelling_a_call_kills_its_git(repo: Path, tmp_path: Path) -> None:
    """...and what git started: the alias's shell and its child (a kill of git alone left them)."""
    marker = f"cancel-{os.getpid()}-{time.monotonic_ns()}"
    record = tmp_path / "pids"
    task = asyncio.create_task(git(*_slow(marker, record), cwd=repo))
    for _ in range(600):  # up to a minute on a loaded machine for git and the alias to start
        if _git_pids_with(marker) and len(_recorded(record)) == 2:
            break
        await asyncio.sleep(0.1)
    assert _git_pids_with(marker) and all(_alive(pid) for pid in _recorded(record))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _git_pids_with(marker) == []  # killed and reaped before the cancel came back
    for _ in range(100):  # the shell and its sleep die of the same SIGKILL; init reaps them
        if not any(_alive(pid) for pid in _recorded(record)):
            break
        await asyncio.sleep(0.05)
    assert [pid for pid in _recorded(record) if _alive(pid)] == []


async def test_a_call_past_its_timeout_is_killed(repo: Path) -> None:
    marker = f"timeout-{os.getpid()}-{time.monotonic_ns()}"
    with pytest.raises(TimeoutError):
        await git(*_slow(marker), cwd=repo, timeout=0.5)
    assert _git_pids_with(marker) == []


async def test_calls_side_by_side_do_not_block_the_event_loop(repo: Path, tmp_path: Path) -> None:
    """Eight git calls at once (the pool's width), each waiting for a file only the event loop writes, and
    only once all eight have started: a call that held the loop, or ran after another, never finishes (each
    has a timeout, so that fails rather than hangs). Nothing here depends on how fast the machine is."""
    marks = tmp_path / "marks"
    marks.mkdir()
    wait = '!f() { touch "$1/started-$2"; while [ ! -e "$1/go" ]; do sleep 0.01; done; echo "$2"; }; f'

    async def release() -> None:
        while len(list(marks.glob("started-*"))) < 8:
            await asyncio.sleep(0.01)
        (marks / "go").touch()

    releaser = asyncio.create_task(release())
    calls = (git("-c", f"alias.wait={wait}", "wait", str(marks), str(i), cwd=repo, timeout=30) for i in range(8))
    try:
        results = await asyncio.gather(*calls)
        await releaser
    finally:  # a failed run lets any alias still waiting end
        releaser.cancel()
        (marks / "go").touch()
    assert [r.out for r in results] == [str(i) for i in range(8)] and all(r.ok for r in results)


def test_run_sync_runs_the_git_layer_without_an_event_loop(repo: Path) -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    info = run_sync(create_worktree(repo, "sess-0000abcd", "sync made", "main"))
    assert (Path(info.path) / ".git").is_file() and info.branch.startswith("amp/sync-made/")
    assert subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=Path(info.path), capture_output=True,
                          text=True).stdout.strip() == info.branch  # fmt: skip
    removed = run_sync(remove_worktree(repo, Path(info.path), info.branch, session_id=info.session_id))
    assert removed.removed_worktree and removed.deleted_branch and not Path(info.path).exists()
    assert not in_sync_mode()  # the mode ends with the coroutine


def test_run_sync_refuses_a_coroutine_that_needs_an_event_loop() -> None:
    async def waits() -> None:
        await asyncio.sleep(0)

    with pytest.raises(Suspended):
        run_sync(waits())
    assert not in_sync_mode()


def test_run_sync_waits_for_a_held_lock(repo: Path) -> None:
    """A lock wait without an event loop sleeps on the thread; the lock is taken once released."""
    holder = _holder(repo)

    async def locked() -> str:
        async with RepoLock(repo, timeout=60):
            return Path((await repo_paths(repo)).root).name

    release = subprocess.Popen([sys.executable, "-c", f"import os, time; time.sleep(0.5); os.kill({holder.pid}, 9)"])
    try:
        started = time.monotonic()
        assert run_sync(locked()) == repo.name
        assert time.monotonic() - started >= 0.4  # it did wait for the holder
    finally:
        release.wait(30)
        holder.kill()
        holder.wait(30)


# ---------------------------------------------------------------- the child process itself


def test_input_larger_than_a_pipe_reaches_git_whole(repo: Path) -> None:
    """Four megabytes on stdin while git answers: neither side blocks the other."""
    data = os.urandom(4 * 1024 * 1024)
    expected = subprocess.run(["git", "hash-object", "--stdin"], cwd=repo, input=data, capture_output=True).stdout
    for driver in ("sync", "async"):
        call = git("hash-object", "--stdin", cwd=repo, input=data)
        res = run_sync(call) if driver == "sync" else asyncio.run(call)
        assert res.out == expected.decode().strip(), driver


def test_large_output_on_both_pipes_is_read_whole(repo: Path) -> None:
    """A megabyte on stdout and on stderr at once (a reader of one pipe only would deadlock)."""
    script = "!head -c 1048576 /dev/zero | tr '\\0' o; head -c 1048576 /dev/zero | tr '\\0' e >&2"
    res = run_sync(git("-c", f"alias.both={script}", "both", cwd=repo))
    assert res.stdout == "o" * 1048576 and res.stderr == "e" * 1048576


def test_a_missing_folder_is_file_not_found_and_starts_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run_sync(git("status", cwd=tmp_path / "gone"))


def test_a_git_missing_from_path_is_file_not_found(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo))  # no git there
    with pytest.raises(FileNotFoundError):
        run_sync(git("status", cwd=repo))


def test_a_program_with_its_standard_streams_closed_still_gets_git_output(repo: Path) -> None:
    """With 0, 1 and 2 closed, the pipes are opened there: they are moved clear before git gets
    its own 0, 1 and 2 (else one dup2 would overwrite another)."""
    code = (
        "import os, sys\n"
        "from ampsm_tui.engine.git.runner import git, run_sync\n"
        "log = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o600)\n"
        "os.close(0); os.close(1); os.close(2)\n"
        "res = run_sync(git('rev-parse', '--abbrev-ref', 'HEAD', cwd=sys.argv[1]))\n"
        "bad = run_sync(git('rev-parse', '--verify', 'nope', cwd=sys.argv[1], check=False))\n"
        "os.write(log, f'{res.out}|{bad.returncode}|{\"fatal\" in bad.stderr}'.encode())\n"
    )
    log = repo.parent / "closed.log"
    proc = subprocess.run([sys.executable, "-c", code, str(repo), str(log)], stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 0
    assert log.read_text() == "main|128|True"


def test_the_lean_git_layer_imports_neither_subprocess_nor_threading(repo: Path) -> None:
    code = (
        "import sys\n"
        "from ampsm_tui.engine.git import create_worktree\n"
        "from ampsm_tui.engine.git.runner import run_sync\n"
        "run_sync(create_worktree(sys.argv[1], 'sess-0000beef', 'imports', 'main'))\n"
        "print(' '.join(m for m in ('subprocess', 'threading', 'typing', 'asyncio') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(repo)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


# ---------------------------------------------------------------- gather_all without an event loop


def _waits_for(mine: Path, other: Path) -> tuple[str, ...]:
    """A git call that marks its start, then succeeds only once the other has started too: two of
    them pass only when their gits run at the same time (one after the other, the first gives up)."""
    script = f"!touch '{mine}'; for i in $(seq 100); do [ -e '{other}' ] && exit 0; sleep 0.1; done; exit 1"
    return ("-c", f"alias.meet={script}", "meet")


def test_gather_all_runs_gits_side_by_side_without_an_event_loop(repo: Path) -> None:
    a, b = repo.parent / "a.started", repo.parent / "b.started"

    async def both() -> tuple[object, ...]:
        from ampsm_tui.engine.git.runner import gather_all

        return await gather_all(git(*_waits_for(a, b), cwd=repo), git(*_waits_for(b, a), cwd=repo))

    first, second = run_sync(both())
    assert first.ok and second.ok  # type: ignore[attr-defined]


def test_gather_all_without_an_event_loop_finishes_every_call_then_raises_the_first_error(repo: Path) -> None:
    from ampsm_tui.engine.git.runner import GitError, gather_all

    done = repo.parent / "slow.done"
    slow = ("-c", f"alias.slow=!sleep 0.3; touch '{done}'", "slow")

    async def both() -> None:
        await gather_all(git("rev-parse", "--verify", "no-such-ref", cwd=repo), git(*slow, cwd=repo))

    with pytest.raises(GitError, match="no-such-ref"):
        run_sync(both())
    assert done.exists()  # the other call ran to its end before the error came back


def test_an_interruption_in_gather_all_kills_the_gits_it_started(repo: Path) -> None:
    from ampsm_tui.engine.git.runner import gather_all

    marker = f"interrupted-{os.getpid()}-{time.monotonic_ns()}"

    async def interrupted() -> None:
        raise KeyboardInterrupt

    async def both() -> None:
        await gather_all(git(*_slow(marker), cwd=repo), interrupted())

    with pytest.raises(KeyboardInterrupt):
        run_sync(both())
    assert _git_pids_with(marker) == []
