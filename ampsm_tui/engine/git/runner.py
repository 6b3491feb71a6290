"""The one way ampsm runs `git`: an argument list in an asyncio subprocess, never a shell string.

The environment makes every call non-interactive (lesson 11: no editor, no credential prompt) and
its output parseable (LC_ALL=C), whatever the user's own settings say.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class GitResult:
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
    proc = await asyncio.create_subprocess_exec(
        "git",
        *GIT_OPTIONS,
        *argv,
        cwd=str(cwd),
        stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=git_env(env),
    )
    data = input.encode() if isinstance(input, str) else input
    try:
        out, err = await asyncio.wait_for(proc.communicate(data), timeout)
    except BaseException:  # timed out or cancelled: no git left running behind us
        if proc.returncode is None:
            proc.kill()
            await asyncio.shield(proc.wait())
        raise
    result = GitResult(
        argv,
        proc.returncode if proc.returncode is not None else -1,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
    )
    if check and not result.ok:
        raise GitError(result)
    return result


async def git_bytes(
    *args: str | Path, cwd: Path | str, env: Mapping[str, str] | None = None, check: bool = True
) -> bytes:
    """Raw stdout of a git call (patches and file contents are bytes, not necessarily UTF-8)."""
    argv = tuple(str(a) for a in args)
    proc = await asyncio.create_subprocess_exec(
        "git",
        *GIT_OPTIONS,
        *argv,
        cwd=str(cwd),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=git_env(env),
    )
    out, err = await proc.communicate()
    if check and proc.returncode != 0:
        raise GitError(GitResult(argv, proc.returncode or -1, "", err.decode("utf-8", "replace")))
    return out


def git_sync(*args: str | Path, cwd: Path | str, env: Mapping[str, str] | None = None) -> GitResult:
    """The blocking form of `git` (never raises on a non-zero exit), for code that is not async:
    the same options and environment."""
    argv = tuple(str(a) for a in args)
    res = subprocess.run(
        ["git", *GIT_OPTIONS, *argv],
        cwd=str(cwd),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=git_env(env),
        check=False,
    )
    return GitResult(argv, res.returncode, res.stdout.decode("utf-8", "replace"), res.stderr.decode("utf-8", "replace"))


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
