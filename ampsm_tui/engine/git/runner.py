"""The one way ampsm runs `git`: an argument list in a subprocess, never a shell string.

The environment makes every call non-interactive (lesson 11: no editor, no credential prompt) and
its output parseable (LC_ALL=C), whatever the user's own settings say.

Every call is a blocking `subprocess.Popen` + `communicate`: on a thread of a small pool when an
event loop awaits it, and directly, with no event loop at all, inside `run_sync` (the lean CLI
paths: `ampsm new`, `squash` and `merge` then import no asyncio). Measured here, asyncio's own
subprocess machinery (a transport per pipe, a child-watcher thread per process, `close_fds`)
costs 6-7 ms per git call against 2.4 ms for this, and twice the CPU; a batch makes hundreds.
`close_fds=False` is what lets `subprocess` use `posix_spawn`: Python opens every descriptor
non-inheritable (PEP 446), SQLite and the repo lock set close-on-exec, so git inherits none of ours.
"""

from __future__ import annotations

import contextvars
import os
import subprocess
import threading
import time
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, overload

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")

#: Environment for every git call: editors are `true`, prompts are off, messages are in English.
GIT_ENV: dict[str, str] = {
    "GIT_EDITOR": "true",
    "GIT_SEQUENCE_EDITOR": "true",
    "GIT_MERGE_AUTOEDIT": "no",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "true",
    "LC_ALL": "C",
    "LANG": "C",
}

#: `-c` options given to every call: no pager, no colour, no gc in the middle of an operation.
GIT_OPTIONS: tuple[str, ...] = (
    "-c",
    "core.editor=true",
    "-c",
    "core.pager=cat",
    "-c",
    "color.ui=false",
    "-c",
    "gc.auto=0",
    "-c",
    "core.quotepath=false",
)


class GitResult(NamedTuple):
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def out(self) -> str:
        return self.stdout.strip()


class GitError(Exception):
    """A git call that was expected to succeed did not. Internal: the public functions turn it into
    an `AmpsmError` with the code that fits the operation."""

    def __init__(self, result: GitResult) -> None:
        self.result = result
        detail = (result.stderr or result.stdout).strip()
        super().__init__(f"git {' '.join(result.args)} failed ({result.returncode}): {detail}")


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # A GIT_DIR/GIT_INDEX_FILE inherited from a hook or a caller would redirect every call.
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX"):
        env.pop(name, None)
    env.update(GIT_ENV)
    if extra:
        env.update(extra)
    return env


#: Set by `run_sync` for the coroutines it drives: git runs on the calling thread, no event loop.
_SYNC: contextvars.ContextVar[bool] = contextvars.ContextVar("ampsm_git_sync", default=False)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


class Suspended(RuntimeError):
    """A coroutine driven by `run_sync` awaited something only an event loop can finish."""


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine of the git layer to its end without an event loop. Every `git()` call,
    `pause` and `gather_all` inside it completes at once in sync mode, so the coroutine never
    suspends; if it does (it awaited a real future), that is a bug: `Suspended` is raised."""
    token = _SYNC.set(True)
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    else:
        coro.close()
        raise Suspended("a coroutine run without an event loop awaited a future")
    finally:
        _SYNC.reset(token)


def in_sync_mode() -> bool:
    return _SYNC.get()


async def pause(seconds: float) -> None:
    """`asyncio.sleep`, or `time.sleep` under `run_sync` (a lock wait, say)."""
    if _SYNC.get():
        time.sleep(seconds)
        return
    import asyncio

    await asyncio.sleep(seconds)


T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")


@overload
async def gather_all(a: Awaitable[T1], b: Awaitable[T2], /) -> tuple[T1, T2]: ...
@overload
async def gather_all(a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], /) -> tuple[T1, T2, T3]: ...
async def gather_all(*aws: Awaitable[Any]) -> tuple[Any, ...]:
    """`asyncio.gather` (git calls side by side), or one after another under `run_sync`."""
    if _SYNC.get():
        return tuple([await aw for aw in aws])
    import asyncio

    return tuple(await asyncio.gather(*aws))


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            # git processes mostly wait on the disk; 8 side by side keep a batch of 8 sessions moving
            _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ampsm-git")
        return _pool


def _spawn(
    argv: tuple[str, ...], cwd: Path | str, env: Mapping[str, str] | None, stdin: bool
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["git", *GIT_OPTIONS, *argv],
        cwd=str(cwd),
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=git_env(env),
        close_fds=False,
    )


def _wait(proc: subprocess.Popen[bytes], data: bytes | None, timeout: float | None) -> tuple[bytes, bytes]:
    try:
        return proc.communicate(data, timeout)
    except BaseException:  # timed out or interrupted: no git left running behind us
        proc.kill()
        proc.communicate()
        raise


async def _run(
    argv: tuple[str, ...],
    cwd: Path | str,
    data: bytes | None,
    env: Mapping[str, str] | None,
    timeout: float | None,
) -> tuple[int, bytes, bytes]:
    if _SYNC.get():
        proc = _spawn(argv, cwd, env, data is not None)
        try:
            out, err = _wait(proc, data, timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"git {' '.join(argv[:2])} timed out after {timeout:g}s") from None
        return proc.returncode, out, err
    import asyncio

    started: list[subprocess.Popen[bytes]] = []
    cancelled: list[bool] = []

    def work() -> tuple[int, bytes, bytes]:
        if cancelled:
            raise subprocess.SubprocessError("cancelled before git started")
        proc = _spawn(argv, cwd, env, data is not None)
        started.append(proc)
        if cancelled:  # the cancel came between the check and the spawn: it may not have seen us
            proc.kill()
        out, err = _wait(proc, data, timeout)
        return proc.returncode, out, err

    future = asyncio.get_running_loop().run_in_executor(_executor(), work)
    try:
        return await asyncio.shield(future)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"git {' '.join(argv[:2])} timed out after {timeout:g}s") from None
    except asyncio.CancelledError:  # cancelled: kill git, and let the thread finish with it
        cancelled.append(True)
        for proc in started:
            if proc.poll() is None:
                proc.kill()
        try:
            await future
        except BaseException:
            pass
        raise


async def git(
    *args: str | Path,
    cwd: Path | str,
    check: bool = True,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> GitResult:
    """Run `git args...` in `cwd`; raise `GitError` when `check` and the exit status is not 0.
    After `timeout` seconds (or when cancelled) git is killed and `TimeoutError` raised."""
    argv = tuple(str(a) for a in args)
    data = input.encode() if isinstance(input, str) else input
    code, out, err = await _run(argv, cwd, data, env, timeout)
    result = GitResult(argv, code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    if check and not result.ok:
        raise GitError(result)
    return result


async def git_bytes(
    *args: str | Path, cwd: Path | str, env: Mapping[str, str] | None = None, check: bool = True
) -> bytes:
    """Raw stdout of a git call (patches and file contents are bytes, not necessarily UTF-8)."""
    argv = tuple(str(a) for a in args)
    code, out, err = await _run(argv, cwd, None, env, None)
    if check and code != 0:
        raise GitError(GitResult(argv, code or -1, "", err.decode("utf-8", "replace")))
    return out


def git_sync(*args: str | Path, cwd: Path | str, env: Mapping[str, str] | None = None) -> GitResult:
    """The blocking form of `git` (never raises on a non-zero exit), for code that is not async:
    the same options and environment."""
    argv = tuple(str(a) for a in args)
    proc = _spawn(argv, cwd, env, False)
    out, err = _wait(proc, None, None)
    return GitResult(argv, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


async def git_out(*args: str | Path, cwd: Path | str, env: Mapping[str, str] | None = None) -> str:
    """stdout of a git call that must succeed, stripped."""
    return (await git(*args, cwd=cwd, env=env)).out


def split_z(text: str) -> list[str]:
    """Fields of `-z` output (NUL separated, trailing NUL dropped)."""
    parts = text.split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def pathspec(paths: Sequence[str] | None) -> list[str]:
    """`-- paths...` with every path taken literally (no glob or magic from user input)."""
    if not paths:
        return []
    return ["--", *(f":(literal){p}" for p in paths)]
