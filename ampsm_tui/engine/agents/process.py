"""One agent turn as a subprocess: spawn, stream, parse, record, and never leave a process behind.

The agent runs in its own session (`start_new_session=True`), so its process group holds everything
it spawned: a timeout, a cancel or a crash ends the whole group (SIGTERM, then SIGKILL after a grace
period), and whatever the agent left running after a normal exit is ended the same way.

Every line is redacted before anything else sees it — the raw JSONL file, the parser, the events
handed to `on_event` — so a key the agent echoes never reaches a file, the DB or the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

from pydantic import BaseModel

from ..clock import now_iso
from ..config import Config
from ..errors import AmpsmError, ErrorCode
from ..fsperm import private_dir
from ..models import IterationStatus
from ..procgroup import group_alive, spawn_in_group, terminate_group
from ..secrets import KEY_VARIABLES, Redactor, get_api_key
from .base import AgentAdapter, AgentEvent, ErrorEvent, StreamParser, Usage, classify_error, strip_ansi
from .preflight import check_agent, resolve_binary

log = logging.getLogger(__name__)

__all__ = [
    "AgentRunResult",
    "LineSplitter",
    "check_agent",
    "raw_log_path",
    "run_agent",
    "run_agent_turn",
    "terminate_group",
]

OnEvent = Callable[[AgentEvent], Awaitable[None]]
OnStart = Callable[[int], Awaitable[None]]

DEFAULT_KILL_GRACE_S = 5.0
#: after the agent exits, how long its pipes may stay open (held by a child) before the group is ended
PIPE_GRACE_S = 2.0
#: a "line" longer than this is cut and handed on, so a stream without newlines cannot eat memory
MAX_LINE_BYTES = 8 * 1024 * 1024
STDERR_TAIL_BYTES = 16 * 1024


class AgentRunResult(BaseModel):
    agent: str
    pid: int | None = None
    exit_code: int | None = None
    signal: str | None = None  # e.g. "SIGKILL" when the agent was killed by a signal
    status: IterationStatus
    thread_id: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float | None = None  # None = unpriced, never shown as 0
    summary: str | None = None
    lines: int = 0
    raw_lines: int = 0
    events: int = 0
    tool_calls: int = 0
    error: str | None = None
    error_transient: bool = False
    error_auth: bool = False
    stderr_tail: str = ""
    started_at: str
    first_byte_at: str | None = None
    first_byte_ms: int | None = None  # from spawn to the first byte on stdout
    duration_ms: int = 0
    raw_log_path: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_creation_tokens + self.cache_read_tokens

    @property
    def usage(self) -> Usage:
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_creation_tokens=self.cache_creation_tokens,
            cache_read_tokens=self.cache_read_tokens,
        )

    @property
    def transient(self) -> bool:
        """A failure worth retrying (429, 5xx, overload): `amp.retry_attempts` applies."""
        return self.error_transient

    @property
    def auth(self) -> bool:
        """The agent was refused for its key or login: E002."""
        return self.error_auth


def raw_log_path(config: Config, session_id: str, iteration: int, attempt: int = 1) -> Path:
    """Where an iteration's raw stream is kept: one file per iteration (and per retry attempt)."""
    suffix = "" if attempt <= 1 else f".attempt{attempt}"
    return config.streams_dir / session_id / f"{iteration:04d}{suffix}.jsonl"


_STREAM_NAME = re.compile(r"^(\d+)(?:\.attempt(\d+))?\.jsonl$")


def earlier_streams(path: Path) -> list[Path]:
    """The raw streams written before `path` in its session's folder, oldest first
    (`0001.jsonl`, `0001.attempt2.jsonl`, `0002.jsonl`, ...)."""

    def order(p: Path) -> tuple[int, int] | None:
        m = _STREAM_NAME.match(p.name)
        return (int(m.group(1)), int(m.group(2) or 1)) if m else None

    mine = order(path)
    if mine is None or not path.parent.is_dir():
        return []
    found = [(o, p) for p in path.parent.iterdir() if (o := order(p)) is not None and o < mine]
    return [p for _, p in sorted(found)]


class _Redactor:
    """One `secrets.Redactor` for the whole turn: the patterns, our own key values and the key values
    given to this agent's environment (a keyring key the agent got is not in our own environment),
    compiled once; nothing is looked up per line."""

    def __init__(self, env: dict[str, str]) -> None:
        values = [env.get(name) or "" for name in KEY_VARIABLES]
        values += [os.environ.get(name) or "" for name in KEY_VARIABLES]
        self._redact = Redactor(values)
        self.values = self._redact.values

    def __call__(self, text: str) -> str:
        return self._redact(text)

    def needed(self, text: str) -> bool:
        return self._redact.needed(text)

    def lines_needing(self, text: str) -> list[int]:
        return self._redact.lines_needing(text)


def _open_private(path: Path) -> IO[str]:
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8", newline="\n")


async def _agent_env(adapter: AgentAdapter, prompt: str, env: dict[str, str] | None) -> dict[str, str]:
    child = dict(os.environ)
    child.update(env or {})
    child.update(adapter.extra_env(prompt))
    var = adapter.key_variable
    if var and not child.get(var):
        with contextlib.suppress(Exception):  # no keyring backend: the agent uses its own login
            value = await asyncio.wait_for(asyncio.to_thread(get_api_key, var), 5.0)
            if value:
                child[var] = value
    return child


class LineSplitter:
    """Bytes in arbitrary chunks to whole lines: a line split across reads is joined, a line
    that is not UTF-8 is decoded with replacement characters, a never-ending line is cut."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._pending = bytearray()
        self._max = max_line

    def feed(self, chunk: bytes) -> list[str]:
        block = self.feed_block(chunk)
        return [] if block is None else block.split("\n")

    def feed_block(self, chunk: bytes) -> str | None:
        """The whole lines completed by `chunk`, joined by "\n" (no final newline), or None.

        Decoded at once rather than line by line: a newline is never part of a UTF-8 sequence, so
        the replacement characters are where a per-line decode puts them."""
        self._pending += chunk
        end = self._pending.rfind(b"\n")
        block: str | None = None
        if end != -1:
            block = _decode_block(self._pending[:end])
            del self._pending[: end + 1]
        if len(self._pending) > self._max:
            # Cut where no key can straddle the cut (each piece is redacted on its own): after the
            # last byte in the final CUT_OVERLAP bytes that cannot be part of a token.
            cut = _safe_cut(self._pending, len(self._pending) - CUT_OVERLAP)
            piece = _decode(self._pending[:cut])
            del self._pending[:cut]
            block = piece if block is None else f"{block}\n{piece}"
        return block

    def close(self) -> list[str]:
        rest, self._pending = self._pending, bytearray()
        return [_decode(rest)] if rest else []


#: how far back from a forced cut to look for a place between tokens (keys are far shorter)
CUT_OVERLAP = 64 * 1024
_TOKEN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~+/=%")


def _safe_cut(data: bytes | bytearray, start: int) -> int:
    """Index just after the last non-token byte at or after `start` (so no token is split), or
    the end when there is none (a 64 KiB run of token characters is cut where it is)."""
    for i in range(len(data) - 1, max(start, 0) - 1, -1):
        if data[i] < 0x80 and data[i] not in _TOKEN_BYTES:  # ASCII: never inside a UTF-8 character
            return i + 1
    return len(data)


def _decode(raw: bytes | bytearray) -> str:
    return bytes(raw).decode("utf-8", "replace").rstrip("\r")


def _decode_block(raw: bytes | bytearray) -> str:
    """Lines joined by "\n", each without its trailing carriage returns (as `_decode` gives them)."""
    text = raw.decode("utf-8", "replace")
    if "\r" in text:
        text = "\n".join(line.rstrip("\r") for line in text.split("\n"))
    return text


# --- process groups ---------------------------------------------------------------------------------
# Signalling and reaping a group: `..procgroup`, the one helper for every process group ampsm starts
# (`terminate_group` stays importable from here).


def agent_alive(pgid: int | None, started_at: float | None) -> bool:
    """Is the agent recorded as (pid, start time) still there, or anything of its process group?
    The leader is checked by pid and start time (a reused pid is not our agent); once the leader
    is gone, a live member of its group (the agent's pid is the group id) still counts."""
    from ..procinfo import same_process

    if not pgid:
        return False
    if same_process(pgid, started_at) and not _zombie(pgid):  # a zombie is dead, only not reaped yet
        return True
    from ..procinfo import pid_alive

    if pid_alive(pgid):  # the pid now belongs to another process: the group id is not ours either
        return False
    return group_alive(pgid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] in ("Z", "X")


# --- one turn ------------------------------------------------------------------------------------------


async def run_agent(
    adapter: AgentAdapter,
    prompt: str,
    *,
    cwd: Path | str,
    thread_id: str | None = None,
    model: str | None = None,
    timeout: float | None = None,
    config: Config | None = None,
    raw_log_path: Path | None = None,
    buffer_size: int | None = None,
    on_event: OnEvent | None = None,
    on_start: OnStart | None = None,
    env: dict[str, str] | None = None,
    kill_grace_s: float = DEFAULT_KILL_GRACE_S,
    quiet: Callable[[], frozenset[str]] | None = None,
    mirror: StreamParser | None = None,
) -> AgentRunResult:
    """Run one turn to its end and report it. Raises AmpsmError(E002) when the agent cannot be
    started (missing binary, a model it cannot honour); everything after the start is reported
    in the result's `status` (completed | failed | interrupted | timeout), never raised.

    Cancelling the awaiting task ends the agent's process group before the cancel propagates.

    `quiet`, asked once per chunk of output, names the kinds of event `on_event` does not need
    (nobody subscribes to them): the parser keeps their bookkeeping, and `mirror`'s, without
    building them. The raw stream file still holds every line.
    """
    argv = adapter.build_argv(prompt, thread_id=thread_id, model=model, cwd=cwd)
    adapter.resume_from(earlier_streams(raw_log_path) if raw_log_path is not None else [], thread_id)
    child_env = await _agent_env(adapter, prompt, env)
    prompt_file = _write_prompt_file(adapter, prompt, child_env)
    try:
        return await _run_agent(adapter, prompt, argv, child_env, cwd=cwd, model=model, timeout=timeout,
                                config=config, raw_log_path=raw_log_path, buffer_size=buffer_size,
                                on_event=on_event, on_start=on_start, kill_grace_s=kill_grace_s, quiet=quiet,
                                mirror=mirror)  # fmt: skip
    finally:
        if prompt_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(prompt_file)


def _write_prompt_file(adapter: AgentAdapter, prompt: str, child_env: dict[str, str]) -> str | None:
    """The prompt in a private temporary file (0600, outside the worktree so it is never committed),
    named in the adapter's `prompt_file_env` variable: a prompt too long for the environment still
    reaches a program that reads a file."""
    var = getattr(adapter, "prompt_file_env", None)
    if not var:
        return None
    import tempfile

    fd, name = tempfile.mkstemp(prefix="ampsm-prompt-", suffix=".txt")
    with os.fdopen(fd, "wb") as fh:
        fh.write(prompt.encode("utf-8", "surrogateescape"))
    child_env[var] = name
    return name


async def _run_agent(
    adapter: AgentAdapter,
    prompt: str,
    argv: list[str],
    child_env: dict[str, str],
    *,
    cwd: Path | str,
    model: str | None,
    timeout: float | None,
    config: Config | None,
    raw_log_path: Path | None,
    buffer_size: int | None,
    on_event: OnEvent | None,
    on_start: OnStart | None,
    kill_grace_s: float,
    quiet: Callable[[], frozenset[str]] | None = None,
    mirror: StreamParser | None = None,
) -> AgentRunResult:
    argv[0] = resolve_binary(argv[0], adapter, path=child_env.get("PATH"), cwd=cwd)
    red = _Redactor(child_env)
    stdin_data = adapter.stdin_data(prompt)
    bufsize = buffer_size or (config.amp.stream_buffer_size if config is not None else 65536)
    parser = adapter.new_parser()
    if mirror is not None:
        parser.mirrors = (mirror,)
    started_at = now_iso()
    t0 = time.monotonic()
    try:
        # a cancel during the spawn itself ends the new group too (`spawn_in_group`)
        proc = await spawn_in_group(
            *argv,
            grace_s=kill_grace_s,
            cwd=str(cwd),
            env=child_env,
            stdin=asyncio.subprocess.PIPE if stdin_data is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        if exc.errno == errno.E2BIG:  # not the agent's fault: the arguments/environment were too big
            raise AmpsmError(
                ErrorCode.AGENT,
                f"{adapter.name}: the prompt ({len(prompt.encode('utf-8', 'replace'))} bytes) is too long for a"
                " command line or environment variable (Linux allows 128 KiB per string); use --agent command,"
                " which reads it from stdin or $AMPSM_PROMPT_FILE",
            ) from None
        raise AmpsmError(ErrorCode.AGENT, f"{adapter.name}: cannot start `{argv[0]}`: {exc}") from None

    state = _TurnState()
    raw_file = _open_private(raw_log_path) if raw_log_path is not None else None

    async def deliver(events: list[AgentEvent]) -> None:
        for event in events:
            if event.kind == "tool_call":
                state.tool_calls += 1
            if on_event is not None:
                try:
                    await on_event(event)
                except Exception:  # a subscriber's failure must not lose the agent's turn
                    log.exception("on_event failed for a %s event", event.kind)

    async def handle(block: str | None) -> None:
        """One chunk's lines (joined by newlines): redacted (one scan for the chunk, then only the
        lines it points at), kept, parsed, delivered."""
        if block is None:
            return
        lines = block.split("\n")
        for i in red.lines_needing(block):
            lines[i] = red(lines[i])
        if raw_file is not None:
            raw_file.write("".join(f"{text}\n" for text in lines if text.strip()))
        if quiet is not None:
            parser.quiet = quiet()
        feed = parser.feed_line
        events = [event for text in lines for event in feed(text)]
        if events:
            await deliver(events)

    async def read_stdout() -> None:
        assert proc.stdout is not None
        splitter = LineSplitter()
        while True:
            chunk = await proc.stdout.read(bufsize)
            if not chunk:
                break
            if state.first_byte_at is None:
                state.first_byte_at = now_iso()
                state.first_byte_ms = int((time.monotonic() - t0) * 1000)
            await handle(splitter.feed_block(chunk))
            if raw_file is not None:
                raw_file.flush()
        await handle("\n".join(splitter.close()) or None)

    async def read_stderr() -> None:
        assert proc.stderr is not None
        while True:
            chunk = await proc.stderr.read(bufsize)
            if not chunk:
                break
            state.stderr.append(chunk)
            state.stderr_bytes += len(chunk)
            while state.stderr_bytes - len(state.stderr[0]) >= STDERR_TAIL_BYTES:
                state.stderr_bytes -= len(state.stderr.popleft())

    async def write_stdin() -> None:
        if proc.stdin is None:
            return
        try:
            if stdin_data:
                proc.stdin.write(stdin_data)
                await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the agent does not read its stdin: fine
        finally:
            with contextlib.suppress(Exception):
                proc.stdin.close()

    readers = [asyncio.create_task(read_stdout()), asyncio.create_task(read_stderr())]
    writer = asyncio.create_task(write_stdin())
    try:
        if on_start is not None:  # inside: a cancel while the start is recorded ends the group too
            try:
                await on_start(proc.pid)
            except Exception:
                log.exception("on_start failed")
        try:
            async with asyncio.timeout(timeout):
                await _exited(proc, readers[0])
                # the agent is gone; a child of it may still hold the pipes open
                await asyncio.wait(readers, timeout=PIPE_GRACE_S)
        except TimeoutError:
            state.timed_out = True
        await asyncio.shield(terminate_group(proc.pid, kill_grace_s))
        await proc.wait()
        done, stuck = await asyncio.wait(readers, timeout=PIPE_GRACE_S)
        for task in stuck:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                log.error("reading the agent's output failed", exc_info=task.exception())
        await deliver(parser.finish())
    except asyncio.CancelledError:
        await asyncio.shield(terminate_group(proc.pid, kill_grace_s))
        for task in [*readers, writer]:
            task.cancel()
        raise
    finally:
        writer.cancel()
        if raw_file is not None:
            raw_file.close()

    return _result(adapter, parser, proc.returncode, state, red, model=model, config=config, pid=proc.pid,
                   started_at=started_at, duration_ms=int((time.monotonic() - t0) * 1000), raw_log=raw_log_path,
                   timeout_s=timeout)  # fmt: skip


async def _exited(proc: asyncio.subprocess.Process, output: asyncio.Task[None] | None = None) -> None:
    """Wait for the agent process itself to exit. `proc.wait()` is not enough: on Python 3.11 it
    only returns once every pipe is closed, so a background child that inherited stdout (`cmd &`)
    would keep a finished turn waiting until its timeout. The return code is set at exit.

    An agent's exit nearly always shows first as the end of its `output`: woken by it, the return
    code is looked at every 2 ms for a while rather than at the next 20 ms tick (half a tick per
    turn was a percent of a batch item's second)."""
    quick = 50
    while proc.returncode is None:
        if output is not None and not output.done():
            await asyncio.wait([output], timeout=0.02)
        elif quick > 0:
            quick -= 1
            await asyncio.sleep(0.002)
        else:
            await asyncio.sleep(0.02)


class _TurnState:
    def __init__(self) -> None:
        self.first_byte_at: str | None = None
        self.first_byte_ms: int | None = None
        self.stderr: deque[bytes] = deque()
        self.stderr_bytes = 0
        self.timed_out = False
        self.tool_calls = 0


def _signal_name(returncode: int | None) -> str | None:
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _result(
    adapter: AgentAdapter,
    parser: StreamParser,
    returncode: int | None,
    state: _TurnState,
    red: _Redactor,
    *,
    model: str | None,
    config: Config | None,
    pid: int,
    started_at: str,
    duration_ms: int,
    raw_log: Path | None,
    timeout_s: float | None,
) -> AgentRunResult:
    stderr_tail = red(b"".join(state.stderr).decode("utf-8", "replace"))[-STDERR_TAIL_BYTES:]
    sig = _signal_name(returncode)
    structured = parser.events - parser.raw_lines
    error: ErrorEvent | None = parser.fatal_error
    message: str | None = None
    if state.timed_out:
        status = IterationStatus.TIMEOUT
        message = f"{adapter.name} did not finish within {timeout_s:g}s; its process group was terminated"
    elif sig is not None:
        status = IterationStatus.INTERRUPTED
        message = f"{adapter.name} was killed by {sig} before its final result"
    elif parser.has_final_result and parser.result is None:
        if returncode != 0 and structured == 0:
            status = IterationStatus.FAILED  # never got going: bad flags, not logged in, ...
        else:
            status = IterationStatus.INTERRUPTED
            message = f"{adapter.name} ended (exit {returncode}) without its final result"
    elif parser.result is not None:
        ok = parser.result.ok and returncode == 0
        status = IterationStatus.COMPLETED if ok else IterationStatus.FAILED
    else:
        status = IterationStatus.COMPLETED if returncode == 0 else IterationStatus.FAILED
    if status == IterationStatus.FAILED:
        if error is None:
            detail = (parser.result.text if parser.result and parser.result.text else None) or _last_line(stderr_tail)
            error = classify_error(detail or f"{adapter.name} exited with status {returncode}")
        message = error.message
    elif status != IterationStatus.COMPLETED and error is not None:
        message = f"{message}: {error.message}"
    usage = parser.usage
    prices = config.pricing if config is not None else None
    return AgentRunResult(
        agent=adapter.name,
        pid=pid,
        exit_code=returncode,
        signal=sig,
        status=status,
        thread_id=parser.thread_id,
        model=adapter.recorded_model(parser, model),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_creation_tokens=usage.cache_creation_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cost_usd=adapter.cost(parser, model=model, prices=prices),
        summary=parser.summary,
        lines=parser.lines,
        raw_lines=parser.raw_lines,
        events=parser.events,
        tool_calls=state.tool_calls,
        error=message,
        error_transient=bool(error and error.transient) and status == IterationStatus.FAILED,
        error_auth=bool(error and error.auth),
        stderr_tail=stderr_tail,
        started_at=started_at,
        first_byte_at=state.first_byte_at,
        first_byte_ms=state.first_byte_ms,
        duration_ms=duration_ms,
        raw_log_path=str(raw_log) if raw_log is not None else None,
    )


def _last_line(text: str) -> str | None:
    text = strip_ansi(text)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else None


#: the same function under the name the first version of the brief used
run_agent_turn = run_agent
