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


def test_loads_line_is_json_loads() -> None:
    """The scanner shortcut gives json.loads' result and json.loads' error on every kind of line."""
    import json

    from ampsm_tui.engine.agents.base import loads_line

    lines = ['{"a": 1}', ' {"a":1}', '{"a":1} ', '{"a":1}x', "\ufeff{}", "[1,2]", '"s"', "12", "nul", "", '{"a":',
             '{"a":1}{"b":2}', "NaN", "1e5", "  ", '{"t": "\\ud800"}', "{}\n"]  # fmt: skip

    def outcome(fn: object, line: str) -> object:
        try:
            return ("ok", fn(line))  # type: ignore[operator]
        except ValueError as exc:
            return ("error", type(exc), str(exc))

    for line in lines:
        assert outcome(loads_line, line) == outcome(json.loads, line), line
