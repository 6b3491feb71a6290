"""Events nobody reads are not built: the turn's figures must not change for it.

A headless `iterate` without `--stream` and a batch have no subscriber to the agent's text and
usage; the parser then keeps their bookkeeping (and the runner's tally's) without building event
objects. Everything that is recorded — tokens, cost, summary, model, tool calls, event counts, the
raw stream — must be what the full path gives.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ampsm_tui.engine.agents.base import AgentEvent, replay_file
from ampsm_tui.engine.agents.process import run_agent
from ampsm_tui.engine.agents.registry import get_adapter
from ampsm_tui.engine.engine import Engine
from ampsm_tui.engine.events import AgentEventPublished
from tests.conftest import FAKES

SAMPLES = Path(__file__).parent / "fixtures" / "agent-samples"


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_AGENT_STATE", str(tmp_path / "fake-state"))
    monkeypatch.setenv("AMP_API_KEY", "amp-key-for-quiet-test")
    for var in ("FAKE_AGENT_MODE", "FAKE_AGENT_LOG", "FAKE_AGENT_ERROR", "FAKE_AGENT_DELAY"):
        monkeypatch.delenv(var, raising=False)


def figures(parser: object) -> tuple[object, ...]:
    p = parser  # a StreamParser
    return (p.usage, p.model, p.thread_id, p.summary, p.events, p.raw_lines, p.lines, p.reported_cost)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "sample", ["claude_run1.jsonl", "amp_run1.jsonl", "claude_resume.jsonl", "claude_fail429.jsonl"]
)
def test_a_quiet_parser_keeps_the_same_figures(sample: str) -> None:
    path = SAMPLES / sample
    adapter = get_adapter("claude" if sample.startswith("claude") else "amp")
    events, full = replay_file(adapter, path)
    quiet, tally = adapter.new_parser(), adapter.new_parser()
    quiet.quiet = frozenset({"text", "thinking", "usage"})
    quiet.mirrors = (tally,)
    kept: list[AgentEvent] = []
    for line in path.read_text().split("\n"):
        kept += quiet.feed_line(line)
    kept += quiet.finish()
    assert figures(quiet) == figures(full)

    def built(e: AgentEvent) -> bool:  # a turn's total usage (Claude's result line) is always built
        return e.kind not in quiet.quiet or getattr(e, "scope", None) == "total"

    def dump(e: AgentEvent) -> str:  # tool durations are wall-clock
        return e.model_dump_json(exclude={"duration_ms"})

    assert [dump(e) for e in events if built(e)] == [dump(e) for e in kept]
    assert [str(e) for e in quiet.errors] == [str(e) for e in full.errors]
    # the mirror got what was not built: the messages' usage, the last text, one count each
    assert tally.events == len(events) - len(kept) and tally.last_text == full.last_text
    if full._total is None:
        assert tally.usage == full.usage
    assert any(e.kind in ("usage", "text") for e in events)


async def test_run_agent_quiet_delivers_only_what_is_wanted(repo: Path, fakes: None, tmp_path: Path) -> None:
    adapter = get_adapter("amp")
    got: list[str] = []

    async def collect(event: AgentEvent) -> None:
        got.append(event.kind)

    twin = tmp_path / "twin"  # the same start for both turns (the fake appends to an existing file)
    shutil.copytree(repo, twin)
    full = await run_agent(adapter, "Create hello.txt", cwd=twin, raw_log_path=tmp_path / "a.jsonl")
    tally = adapter.new_parser()
    quiet = await run_agent(
        adapter,
        "Create hello.txt",
        cwd=repo,
        raw_log_path=tmp_path / "b.jsonl",
        on_event=collect,
        quiet=lambda: frozenset({"text", "usage"}),
        mirror=tally,
    )
    assert got == ["thread", "tool_call", "tool_result", "result"]
    keep = {"status", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "cost_usd",
            "summary", "model", "events", "tool_calls", "lines", "raw_lines"}  # fmt: skip
    assert quiet.model_dump(include=keep) == full.model_dump(include=keep)
    assert quiet.total_tokens == 2700 + 65 + 500 + 11200
    # the tally saw the quiet events' totals (the runner prices a cancelled turn with it)
    assert tally.usage == quiet.usage and tally.last_text is not None
    assert (tmp_path / "a.jsonl").read_text().count("\n") == (tmp_path / "b.jsonl").read_text().count("\n") == 5


async def test_iterations_record_the_same_with_and_without_a_subscriber(repo: Path, fakes: None) -> None:
    engine = await Engine.open()
    try:
        seen: list[str] = []
        quiet = await engine.sessions.create(repo=repo, name="quiet", prompt="Create hello.txt")
        it_quiet = await engine.sessions.iterate(quiet.id)
        engine.bus.subscribe(AgentEventPublished.topic, lambda e: seen.append(e.event.kind))  # type: ignore[attr-defined]
        loud = await engine.sessions.create(repo=repo, name="loud", prompt="Create hello.txt")
        it_loud = await engine.sessions.iterate(loud.id)
        assert "text" in seen and "usage" in seen
        fields = ("status", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
                  "cost_usd", "summary", "model", "files_changed")  # fmt: skip
        assert [getattr(it_quiet, f) for f in fields] == [getattr(it_loud, f) for f in fields]
        assert it_quiet.input_tokens == 2700 and it_quiet.summary
        assert it_quiet.id is not None and it_loud.id is not None
        calls_q = await engine.store.list_tool_calls(iteration_id=it_quiet.id)
        calls_l = await engine.store.list_tool_calls(iteration_id=it_loud.id)
        assert len(calls_q) == len(calls_l) == 1
    finally:
        await engine.close()


def _same(a: object, b: object) -> bool:
    """Equal values of the same types all the way down (NaN equal to NaN, -0.0 apart from 0.0)."""
    import math

    if type(a) is not type(b):
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


def _outcome(fn: object, line: str) -> tuple[object, ...]:
    try:
        return ("ok", fn(line))  # type: ignore[operator]
    except (ValueError, RecursionError) as exc:
        return ("error", type(exc), str(exc))


def _agrees(line: str) -> bool:
    import json

    from ampsm_tui.engine.agents.base import loads_line

    mine, theirs = _outcome(loads_line, line), _outcome(json.loads, line)
    if mine[0] == theirs[0] == "ok":
        return _same(mine[1], theirs[1])
    return mine == theirs


def test_loads_line_is_json_loads() -> None:
    """The fast parser gives json.loads' result and json.loads' error on every kind of line."""
    lines = ['{"a": 1}', ' {"a":1}', '{"a":1} ', '{"a":1}x', "\ufeff{}", "[1,2]", '"s"', "12", "nul", "", '{"a":',
             '{"a":1}{"b":2}', "NaN", "1e5", "  ", '{"t": "\\ud800"}', "{}\n", "[NaN, Infinity, -Infinity]", "inf",
             "123456789012345678901234567890", "-0", "-0.0", "1e400", "2.5e-324", '{"a":1,"a":2}', '"a\tb"',
             '"a\x01b"', '"\\udc00\\ud800"', '"\\ud83d\\ude00"', "01", "1.", "+1", "[1,]", '"\\x"',
             "[" * 5000 + "]" * 5000, "\ud800", '{"\ud800": 1}', "0.1", "1E-2", "\u00a0[1]"]  # fmt: skip
    for line in lines:
        assert _agrees(line), line


def test_loads_line_is_json_loads_on_mutated_agent_lines() -> None:
    """Agents' real lines, mutated at random (a fixed seed): wherever either parser accepts a line,
    the values are json's, and wherever json refuses it, so does `loads_line`, with json's error."""
    import random

    alphabet = list('{}[]":,\\ \t\r\x00\x1f0123456789eE+-.truefalsnNIaiy\u00e9\ud800\u2028\ufeff')
    alphabet += ["\\u", "\\ud83d", "\\ude00", "NaN", "Infinity", "null", '\\"']
    seeds = [line for path in sorted(SAMPLES.glob("*.jsonl")) for line in path.read_text().split("\n") if line]
    rnd = random.Random(17)
    for _ in range(4000):
        chars = list(rnd.choice(seeds))
        for _ in range(rnd.randint(1, 4)):
            pos = rnd.randrange(len(chars) + 1)
            op = rnd.random()
            if op < 0.4 or not chars:
                chars.insert(pos, rnd.choice(alphabet))
            elif op < 0.7:
                del chars[min(pos, len(chars) - 1)]
            else:
                chars[min(pos, len(chars) - 1)] = rnd.choice(alphabet)
        line = "".join(chars)
        assert _agrees(line), line
