"""The one way ampsm runs `git`: an argument list in a child process, never a shell string.

The environment makes every call non-interactive (lesson 11: no editor, no credential prompt) and
its output parseable (LC_ALL=C), whatever the user's own settings say.

Every call is `os.posix_spawn` of git with `-C <cwd>` and a poll loop over its pipes, blocking: on a
thread of a small pool when an event loop awaits it, and directly, with no event loop at all, inside
`run_sync` (the lean CLI paths: `ampsm new`, `squash` and `merge` then import no asyncio). Measured
here, asyncio's own subprocess machinery (a transport per pipe, a child-watcher thread per process)
cost 6-7 ms per git call against 2.4 ms for a blocking call, and twice the CPU; a batch makes
hundreds. `subprocess` itself is not used: importing it (with `threading`, `selectors`, `locale`)
was 6 ms of each lean command, and posix_spawn is what it would call anyway. Python opens every
descriptor non-inheritable (PEP 446), SQLite and the repo lock set close-on-exec, so git inherits
only its three pipes.
"""

from __future__ import annotations

import contextvars
import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` is not imported at run time: see engine/lite.py
    from collections.abc import Awaitable, Coroutine, Generator, Mapping, Sequence
    from concurrent.futures import ThreadPoolExecutor
    from threading import Lock
    from typing import Any, NamedTuple, TypeAlias, TypeVar, overload

    #: What the git layer takes for a path: a `str` or any `os.PathLike` (a `pathlib.Path`).
    StrPath: TypeAlias = str | os.PathLike[str]

    T = TypeVar("T")
    T1 = TypeVar("T1")
    T2 = TypeVar("T2")
    T3 = TypeVar("T3")
else:
    from ..lite import NamedTuple, overload

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

#: `-c` options given to every call: no pager, no colour, no gc in the middle of an operation (and
#: no `git maintenance run --auto` after a commit or merge: with gc.auto=0 its gc does nothing, and
#: starting it was a third of a fast-forward `git merge`; the repository is the user's to tidy).
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
    "maintenance.auto=false",
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
_pool_lock: Lock | None = None


class Suspended(RuntimeError):
    """A coroutine driven by `run_sync` awaited something only an event loop can finish."""


class _Started:
    """What a git call yields under `run_sync` once its process is started and before it waits for
    it: `gather_all` starts its other calls at that point, so their gits run side by side; any other
    driver just resumes it."""

    __slots__ = ()

    def __await__(self) -> Generator[_Started, None, None]:
        yield self


_STARTED = _Started()


def _finish(step: Generator[Any, None, T]) -> T:
    """Resume a coroutine (already started) past its `_Started` yields to its end."""
    try:
        while True:
            if step.send(None) is not _STARTED:
                step.close()
                raise Suspended("a coroutine run without an event loop awaited a future")
    except StopIteration as done:
        return done.value


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine of the git layer to its end without an event loop. Every `git()` call,
    `pause` and `gather_all` inside it completes in sync mode without an event loop (a git call only
    steps aside for `gather_all` to start its neighbours); a coroutine that awaits anything else (a
    real future) is a bug: `Suspended` is raised."""
    token = _SYNC.set(True)
    try:
        return _finish(coro.__await__())
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


@overload
async def gather_all(a: Awaitable[T1], b: Awaitable[T2], /) -> tuple[T1, T2]: ...
@overload
async def gather_all(a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], /) -> tuple[T1, T2, T3]: ...
async def gather_all(*aws: Awaitable[Any]) -> tuple[Any, ...]:
    """`asyncio.gather`: git calls side by side. Under `run_sync` too: each awaitable runs to the
    start of its first git process, then each is finished in turn (so those first gits overlap; two
    cores make a merge's checks take the time of one). Every one is finished before the first error
    is raised, as gather leaves none running; an interruption (a cancellation, Ctrl-C) closes the
    rest, which kills their gits."""
    if not _SYNC.get():
        import asyncio

        return tuple(await asyncio.gather(*aws))
    steps = [aw.__await__() for aw in aws]
    results: list[Any] = [None] * len(steps)
    errors: list[BaseException | None] = [None] * len(steps)
    started: list[int] = []
    try:
        for i, step in enumerate(steps):
            try:
                yielded = step.send(None)
            except StopIteration as done:
                results[i] = done.value
                continue
            except Exception as exc:
                errors[i] = exc
                continue
            if yielded is not _STARTED:
                raise Suspended("a coroutine run without an event loop awaited a future")
            started.append(i)
        for i in started:
            try:
                results[i] = _finish(steps[i])
            except Exception as exc:
                errors[i] = exc
    except BaseException:
        for step in steps:
            step.close()  # at its `_Started`: its git is killed and reaped
        raise
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return tuple(results)


def _executor() -> ThreadPoolExecutor:
    global _pool, _pool_lock
    if _pool_lock is None:  # made on the first async call: the lean paths never import threading
        import threading

        _pool_lock = threading.Lock()
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            # git processes mostly wait on the disk; 8 side by side keep a batch of 8 sessions moving
            _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ampsm-git")
        return _pool


#: The git program found on each PATH seen (a lookup per call was nine failing execs here).
_programs: dict[str, str] = {}


def _program(env: Mapping[str, str], *, fresh: bool = False) -> str:
    """`git` on the child's PATH, as `subprocess` looks for it: the first executable file."""
    search = env.get("PATH", os.defpath)
    found = None if fresh else _programs.get(search)
    if found is None:
        for folder in search.split(os.pathsep):
            path = os.path.join(folder or os.curdir, "git")
            if os.access(path, os.X_OK) and not os.path.isdir(path):
                found = path
                break
        else:
            raise FileNotFoundError(2, "No such file or directory: 'git'")
        _programs[search] = found
    return found


class Child:
    """One running git: its pid and the parent's ends of its pipes. `kill` may come from another
    thread (a cancelled call) while `communicate` runs: that stops at once, without waiting for the
    pipes to close (a hook's or alias's child may hold them long after git is gone)."""

    __slots__ = ("killed", "pid", "returncode", "stderr", "stdin", "stdout")

    def __init__(self, pid: int, stdin: int, stdout: int, stderr: int) -> None:
        self.pid, self.stdin, self.stdout, self.stderr = pid, stdin, stdout, stderr
        self.returncode: int | None = None
        self.killed = False

    def abandon(self) -> None:
        """Kill git, reap it and close the pipes, reading nothing more."""
        try:
            self.communicate(None, 0.0)
        except TimeoutError:
            pass

    def kill(self) -> None:
        """SIGKILL git's process group: git and what it started (an alias's shell, a hook, a helper),
        which a kill of git alone left running. Not reaped yet, git's pid still names its group."""
        self.killed = True
        if self.returncode is None:
            try:
                os.killpg(self.pid, 9)  # SIGKILL
            except ProcessLookupError:
                pass
            except PermissionError:  # not a group of ours after all: git alone
                try:
                    os.kill(self.pid, 9)
                except ProcessLookupError:
                    pass

    def _reap(self, deadline: float | None) -> None:
        """Wait for the exit (the pipes are closed): past `deadline`, TimeoutError."""
        if deadline is None:
            _, status = os.waitpid(self.pid, 0)
        else:
            delay = 0.0005
            while True:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() >= deadline:
                    raise TimeoutError
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        self.returncode = os.waitstatus_to_exitcode(status)

    def communicate(self, data: bytes | None, timeout: float | None) -> tuple[bytes, bytes]:
        """Feed `data`, read both pipes to their end, reap git. On a timeout (TimeoutError) or any
        interruption (a cancellation, Ctrl-C) git is killed and reaped before the error goes on."""
        try:
            return self._communicate(data, timeout)
        except BaseException:
            self.kill()
            if self.returncode is None:
                try:
                    self._reap(None)
                except ChildProcessError:
                    pass
            raise
        finally:
            for fd in (self.stdin, self.stdout, self.stderr):
                if fd >= 0:
                    os.close(fd)
            self.stdin = self.stdout = self.stderr = -1

    def _communicate(self, data: bytes | None, timeout: float | None) -> tuple[bytes, bytes]:
        import select

        deadline = None if timeout is None else time.monotonic() + timeout
        chunks: dict[int, list[bytes]] = {self.stdout: [], self.stderr: []}
        poller = select.poll()
        readable = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR
        for fd in chunks:
            poller.register(fd, readable)
        view = memoryview(data or b"")
        if self.stdin >= 0:
            if view:
                os.set_blocking(self.stdin, False)
                poller.register(self.stdin, select.POLLOUT | select.POLLERR)
            else:
                os.close(self.stdin)
                self.stdin = -1
        open_fds = len(chunks) + (self.stdin >= 0)
        while open_fds:
            if self.killed:
                raise TimeoutError  # killed from another thread: the except path reaps it
            # a look at `killed` every 0.2 s at most
            left = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError
            events = poller.poll(max(1, int(left * 1000)))
            for fd, event in events:
                if fd == self.stdin:
                    try:
                        written = os.write(fd, view[:65536]) if not event & select.POLLERR else 0
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # git stopped reading: what it says explains why
                        written, view = 0, view[:0]
                    view = view[written:]
                    if not view or event & select.POLLERR:
                        poller.unregister(fd)
                        os.close(fd)
                        self.stdin = -1
                        open_fds -= 1
                    continue
                chunk = os.read(fd, 65536)
                if chunk:
                    chunks[fd].append(chunk)
                else:
                    poller.unregister(fd)
                    open_fds -= 1
        self._reap(deadline)
        return b"".join(chunks[self.stdout]), b"".join(chunks[self.stderr])


def _spawn(argv: tuple[str, ...], cwd: StrPath, env: Mapping[str, str] | None, stdin: bool) -> Child:
    """Start `git -C cwd <options> argv` with its stdout and stderr on pipes, its stdin on a pipe
    or /dev/null. A missing `cwd` is the FileNotFoundError `subprocess` would raise."""
    import _signal  # not `signal`, which imports `enum` (with functools and collections)

    folder = os.fspath(cwd)
    if not os.path.isdir(folder):
        raise FileNotFoundError(2, "No such file or directory", folder)
    child_env = git_env(env)
    ends: list[int] = []  # the child's ends, closed here once it has them
    mine: list[int] = []
    try:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        mine += [out_r, err_r]
        ends += [out_w, err_w]
        in_w = -1
        if stdin:
            in_r, in_w = os.pipe()
            mine.append(in_w)
            ends.append(in_r)
        if min(ends) < 3:  # one of ours where 0, 1 or 2 was closed: move it clear of them first
            import fcntl

            moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in ends]
            for fd in ends:
                os.close(fd)
            ends[:] = moved
        stdin_action = (
            (os.POSIX_SPAWN_DUP2, ends[2], 0) if stdin else (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)
        )
        actions = [stdin_action, (os.POSIX_SPAWN_DUP2, ends[0], 1), (os.POSIX_SPAWN_DUP2, ends[1], 2)]
        args = ["git", "-C", folder, *GIT_OPTIONS, *argv]
        # Python ignores SIGPIPE and SIGXFSZ: the defaults back, as subprocess gives them (git restores
        # SIGPIPE itself, a hook it runs inherits from git)
        defaults = (_signal.SIGPIPE, _signal.SIGXFSZ)
        for fresh in (False, True):  # the git found before may be gone: then look again
            try:  # in its own process group, so that a kill reaches what git starts too (Child.kill)
                pid = os.posix_spawn(
                    _program(child_env, fresh=fresh), args, child_env, file_actions=actions, setsigdef=defaults,
                    setpgroup=0,
                )  # fmt: skip
                break
            except FileNotFoundError:
                if fresh:
                    raise
    except BaseException:
        for fd in ends + mine:
            os.close(fd)
        raise
    for fd in ends:
        os.close(fd)
    return Child(pid, in_w, out_r, err_r)


async def _run(
    argv: tuple[str, ...],
    cwd: StrPath,
    data: bytes | None,
    env: Mapping[str, str] | None,
    timeout: float | None,
) -> tuple[int, bytes, bytes]:
    if _SYNC.get():
        child = _spawn(argv, cwd, env, data is not None)
        try:
            await _STARTED
        except BaseException:  # closed by gather_all before it waited: no git left behind
            child.abandon()
            raise
        try:
            out, err = child.communicate(data, timeout)
        except TimeoutError:
            raise TimeoutError(f"git {' '.join(argv[:2])} timed out after {timeout:g}s") from None
        assert child.returncode is not None
        return child.returncode, out, err
    import asyncio

    started: list[Child] = []
    cancelled: list[bool] = []

    def work() -> tuple[int, bytes, bytes]:
        if cancelled:
            raise asyncio.CancelledError  # cancelled before git started
        child = _spawn(argv, cwd, env, data is not None)
        started.append(child)
        if cancelled:  # the cancel came between the check and the spawn: it may not have seen us
            child.kill()
        out, err = child.communicate(data, timeout)
        assert child.returncode is not None
        return child.returncode, out, err

    future = asyncio.get_running_loop().run_in_executor(_executor(), work)
    try:
        return await asyncio.shield(future)
    except TimeoutError:
        raise TimeoutError(f"git {' '.join(argv[:2])} timed out after {timeout:g}s") from None
    except asyncio.CancelledError:  # cancelled: kill git, and let the thread finish with it
        cancelled.append(True)
        for child in started:
            child.kill()
        try:
            await future
        except BaseException:
            pass
        raise


async def git(
    *args: StrPath,
    cwd: StrPath,
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


async def git_bytes(*args: StrPath, cwd: StrPath, env: Mapping[str, str] | None = None, check: bool = True) -> bytes:
    """Raw stdout of a git call (patches and file contents are bytes, not necessarily UTF-8)."""
    argv = tuple(str(a) for a in args)
    code, out, err = await _run(argv, cwd, None, env, None)
    if check and code != 0:
        raise GitError(GitResult(argv, code or -1, "", err.decode("utf-8", "replace")))
    return out


def git_sync(*args: StrPath, cwd: StrPath, env: Mapping[str, str] | None = None) -> GitResult:
    """The blocking form of `git` (never raises on a non-zero exit), for code that is not async:
    the same options and environment."""
    argv = tuple(str(a) for a in args)
    child = _spawn(argv, cwd, env, False)
    out, err = child.communicate(None, None)
    assert child.returncode is not None
    return GitResult(argv, child.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


async def git_out(*args: StrPath, cwd: StrPath, env: Mapping[str, str] | None = None) -> str:
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
