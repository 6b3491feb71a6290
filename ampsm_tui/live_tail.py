"""Live output of iterations that another process runs (a headless `ampsm iterate` in another shell).

Their events never reach our bus; the DB only learns of them at the end of the iteration. What
does exist while it runs is the iteration's raw stream file (`iterations.raw_log_path`, JSONL,
already redacted, flushed per chunk). For each watched session whose running iteration belongs to
another process, a `StreamTail` reads the bytes appended since the last tick, splits whole lines
and parses them with that agent's own parser, so the transcript gets the same event dicts as a
local run. When the iteration ends the rest of the file is read and the commit/test lines come
from the DB row.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import format as fmt

if TYPE_CHECKING:
    from .engine.agents.base import StreamParser
    from .engine.models import Iteration, Session
    from .engine.store import Store
    from .transcripts import Transcripts

READ_CHUNK = 1 << 20  # bytes per tick at most, so a huge backlog never blocks the UI for long


@dataclass
class StreamTail:
    session_id: str
    iteration: int
    path: Path
    parser: StreamParser
    offset: int = 0
    partial: bytes = b""
    events: int = field(default=0)

    def read(self, *, final: bool = False) -> list[dict[str, Any]]:
        """Events of the lines appended since the last read (all of the file when `final`)."""
        out: list[dict[str, Any]] = []
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                while True:
                    chunk = fh.read(READ_CHUNK)
                    if not chunk:
                        break
                    self.offset += len(chunk)
                    out.extend(self._lines(chunk))
                    if not final:
                        break
        except FileNotFoundError:
            pass
        if final:
            if self.partial:
                out.extend(self._parse(self.partial))
                self.partial = b""
            out.extend(e.model_dump(mode="json") for e in self.parser.finish())
        self.events += len(out)
        return out

    def _lines(self, chunk: bytes) -> Iterable[dict[str, Any]]:
        data = self.partial + chunk
        *whole, self.partial = data.split(b"\n")
        for line in whole:
            yield from self._parse(line)

    def _parse(self, line: bytes) -> list[dict[str, Any]]:
        return [e.model_dump(mode="json") for e in self.parser.feed_line(line.decode("utf-8", "replace"))]


def finish_lines(iteration: Iteration) -> list[tuple[str, str]]:
    """What the other process's bus would have said at the end: commit, tests, outcome."""
    lines: list[tuple[str, str]] = []
    if iteration.commit_sha:
        lines.append(
            (
                "marker",
                f"● commit {iteration.commit_sha[:8]}  {fmt.plural(iteration.files_changed, 'file')}"
                f" +{iteration.lines_added} -{iteration.lines_removed}",
            )
        )
    if iteration.test_exit_code is not None:
        if iteration.test_exit_code == 0:
            lines.append(("pass", "✓ tests passed"))
        else:
            lines.append(("fail", f"✗ tests failed (exit {iteration.test_exit_code})"))
            lines.extend(("fail", line) for line in (iteration.test_log or "").splitlines()[-15:])
    price = fmt.iteration_cost(iteration.cost_usd, fmt.token_total(iteration.input_tokens, iteration.output_tokens))
    cache = iteration.cache_read_tokens + iteration.cache_creation_tokens
    tokens = fmt.token_split(iteration.input_tokens, iteration.output_tokens, cache)
    lines.append(("marker", f"── iteration {iteration.number} {iteration.status.value} · {tokens} · {price} ──"))
    if iteration.error:
        lines.append(("error", f"error: {iteration.error}"))
    return lines


class RemoteTails:
    """The tails of one app; `tick()` is called by the app's timer (never overlapping)."""

    def __init__(
        self, store: Store, transcripts: Transcripts, *, is_local: Callable[[str], bool], pid: int | None = None
    ) -> None:
        self.store = store
        self.transcripts = transcripts
        self.is_local = is_local  # the session's iteration runs in this process (its events are on our bus)
        self.pid = pid if pid is not None else os.getpid()
        self.tails: dict[str, StreamTail] = {}
        self._looked_at: set[str] = set()  # sessions whose DB rows the last tick read

    def _remote(self, session: Session) -> bool:
        return (
            session.status.value == "running"
            and session.pid is not None
            and session.pid != self.pid
            and not self.is_local(session.id)
        )

    async def tick(self, *, db_changed: bool = True) -> None:
        """Read what the running tails appended. The DB (is another process running this session's
        iteration, has it ended?) is read only when it changed since the last tick (the app's DB watch
        says so) or for a session newly watched: two queries per session four times a second kept the
        DB thread busy, and under load the change path queued behind them."""
        watched = set(self.transcripts.watched()) | set(self.tails)
        for session_id in watched:
            if db_changed or session_id not in self._looked_at:
                await self._tick_one(session_id)
            elif (tail := self.tails.get(session_id)) is not None:
                for event in tail.read():
                    self.transcripts.add_event(session_id, event)
        self._looked_at = watched

    async def _tick_one(self, session_id: str) -> None:
        tail = self.tails.get(session_id)
        session = await self.store.get_session(session_id)
        last = await self.store.last_iteration(session_id) if session is not None else None
        running_elsewhere = (
            session is not None and last is not None and last.status == "running" and self._remote(session)
        )
        if tail is not None and (not running_elsewhere or last is None or last.number != tail.iteration):
            await self._finish(tail)
            tail = None
        if not running_elsewhere or last is None or not last.raw_log_path:
            return
        assert session is not None
        if tail is None:
            tail = self._start(session, last)
            if tail is None:
                return
        for event in tail.read():
            self.transcripts.add_event(session_id, event)

    def _start(self, session: Session, iteration: Iteration) -> StreamTail | None:
        from .engine.agents.registry import get_adapter
        from .engine.errors import AmpsmError

        try:
            parser = get_adapter(session.agent, session.agent_cmd).new_parser()
        except AmpsmError:
            return None
        assert iteration.raw_log_path is not None
        tail = StreamTail(session.id, iteration.number, Path(iteration.raw_log_path), parser)
        self.tails[session.id] = tail
        self.transcripts.mark_seen(session.id, iteration.number)
        model = f" · {iteration.model}" if iteration.model else ""
        self.transcripts.add_line(
            session.id, "marker", f"── iteration {iteration.number} · {session.agent}{model} · pid {session.pid} ──"
        )
        if iteration.prompt:
            self.transcripts.add_line(session.id, "detail", "› " + iteration.prompt.splitlines()[0][:200])
        return tail

    async def _finish(self, tail: StreamTail) -> None:
        self.tails.pop(tail.session_id, None)
        for event in tail.read(final=True):
            self.transcripts.add_event(tail.session_id, event)
        for it in await self.store.list_iterations(tail.session_id):
            if it.number == tail.iteration:
                for kind, text in finish_lines(it):
                    self.transcripts.add_line(tail.session_id, kind, text)
                break


#: Past iterations replayed from their stream files (older ones are summarised from the DB).
REPLAY_LAST = 3

#: One thing for an output pane: ("event", agent event dict) or ("line", (kind, text)).
Item = tuple[str, Any]


def replay_iteration(session: Session, iteration: Iteration) -> list[Item] | None:
    """A finished iteration as it streamed: its raw stream file through the agent's own parser,
    then the commit/test lines from the DB. None when the file is gone (pruned) or unreadable."""
    from .engine.agents.registry import get_adapter

    path = Path(iteration.raw_log_path) if iteration.raw_log_path else None
    if path is None or not path.is_file():
        return None
    try:
        parser = get_adapter(session.agent, session.agent_cmd).new_parser()
    except Exception:
        return None
    events = StreamTail(session.id, iteration.number, path, parser).read(final=True)
    if not events:
        return None
    items: list[Item] = [
        ("line", ("marker", f"── iteration {iteration.number} · {iteration.agent or session.agent} ──"))
    ]
    if iteration.prompt:
        items.append(("line", ("detail", "› " + iteration.prompt.splitlines()[0][:200])))
    items.extend(("event", e) for e in events)
    items.extend(("line", line) for line in finish_lines(iteration))
    return items


def past_output(
    session: Session,
    iterations: list[Iteration],
    history: Callable[[list[Iteration]], list[tuple[str, str]]],
    skip: set[int],
) -> list[Item]:
    """What an output pane shows of a session's finished iterations this process did not watch:
    the last few replayed from their stream files (text, thinking, tool calls as they came), the
    older ones (and any whose file is gone) summarised by `history` from the DB. Blocking file
    reads: call it in a thread."""
    shown = [it for it in iterations if it.number not in skip and it.status.value != "running"]
    replay_from = len(shown) - REPLAY_LAST
    items: list[Item] = []
    for index, it in enumerate(shown):
        replayed = replay_iteration(session, it) if index >= replay_from else None
        if replayed is None:
            items.extend(("line", line) for line in history([it]))
        else:
            items.extend(replayed)
    return items


def history_lines(iterations: list[Iteration], tools: dict[int, list[str]], skip: set[int]) -> list[tuple[str, str]]:
    """What the DB knows of past iterations (for sessions this process did not watch live)."""
    lines: list[tuple[str, str]] = []
    for it in iterations:
        if it.number in skip or it.status.value == "running":
            continue  # a running iteration is shown live: from our bus, or tailed from its stream file
        model = f" · {it.model}" if it.model and it.model != it.agent else ""
        lines.append(("marker", f"── iteration {it.number} · {it.agent or ''}{model} · {it.status.value} ──"))
        if it.prompt:
            lines.append(("detail", "› " + it.prompt.splitlines()[0][:200]))
        if it.summary:
            lines.extend(("text", line) for line in it.summary.splitlines()[:20])
        lines.extend(("tool", f"⚙ {t}") for t in tools.get(it.id or -1, []))
        if it.commit_sha:
            lines.append(
                (
                    "marker",
                    f"● commit {it.commit_sha[:8]}  {fmt.plural(it.files_changed, 'file')}"
                    f" +{it.lines_added} -{it.lines_removed}",
                )
            )
        if it.test_exit_code is not None:
            if it.test_exit_code == 0:
                lines.append(("pass", "✓ tests passed"))
            else:
                lines.append(("fail", f"✗ tests failed (exit {it.test_exit_code})"))
                tail = (it.test_log or "").splitlines()[-10:]
                lines.extend(("fail", line) for line in tail)
        if it.error:
            lines.append(("error", f"error: {it.error}"))
    return lines
