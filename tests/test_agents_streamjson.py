"""Claude and Amp stream-json parsing against the real samples (and the documented Amp shapes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ampsm_tui.engine.agents.base import (
    ErrorEvent,
    RawEvent,
    ResultEvent,
    TextEvent,
    ToolCallEvent,
    ToolResultEvent,
    UsageEvent,
    classify_error,
    replay_file,
    replay_lines,
)
from ampsm_tui.engine.agents.registry import get_adapter
from ampsm_tui.engine.config import Price
from ampsm_tui.engine.errors import AmpsmError

SAMPLES = Path(__file__).parent / "fixtures" / "agent-samples"


def test_claude_usage_is_counted_once_per_message_id_and_result_totals_win() -> None:
    adapter = get_adapter("claude")
    events, parser = replay_file(adapter, SAMPLES / "claude_run1.jsonl")
    per_message = [e for e in events if isinstance(e, UsageEvent) and e.scope == "message"]
    # three assistant lines, two message ids: the repeated usage is counted once
    assert len(per_message) == 2
    assert sum(e.input_tokens for e in per_message) == 3046
    assert sum(e.cache_read_tokens for e in per_message) == 23600
    assert sum(e.output_tokens for e in per_message) == 2
    # the result line's totals replace the sum (its output count is the real one)
    usage = parser.usage
    assert (usage.input_tokens, usage.output_tokens) == (3046, 60)
    assert (usage.cache_creation_tokens, usage.cache_read_tokens) == (8400, 23600)
    assert adapter.cost(parser, model=None, prices=None) == pytest.approx(0.048618)
    assert parser.thread_id == "85d87778-246c-44b1-87ad-09e19cb9eac1"
    assert parser.model == "claude-sonnet-4-5"
    assert parser.summary == 'Created `hello.txt` containing "hi".'
    assert parser.result is not None and parser.result.ok and parser.result.num_turns == 2
    calls = [e for e in events if isinstance(e, ToolCallEvent)]
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert [(c.id, c.name, c.input_summary) for c in calls] == [
        ("toolu_014dcad19d28d5432aa19325", "Bash", "echo hi > hello.txt && cat hello.txt")
    ]
    assert [(r.id, r.ok, r.output_summary) for r in results] == [("toolu_014dcad19d28d5432aa19325", True, "hi")]
    assert parser.raw_lines == 0


def test_claude_resume_keeps_the_thread() -> None:
    events, parser = replay_file(get_adapter("claude"), SAMPLES / "claude_resume.jsonl")
    assert parser.thread_id == "85d87778-246c-44b1-87ad-09e19cb9eac1"
    assert parser.usage.output_tokens == 60
    assert any(isinstance(e, TextEvent) and e.text == "I'll create the file." for e in events)


@pytest.mark.parametrize(
    ("sample", "status", "auth", "transient"),
    [
        ("claude_fail401.jsonl", 401, True, False),
        ("claude_fail429.jsonl", 429, False, True),
        ("claude_fail500.jsonl", 500, False, True),
    ],
)
def test_claude_api_errors_are_classified(sample: str, status: int, auth: bool, transient: bool) -> None:
    events, parser = replay_file(get_adapter("claude"), SAMPLES / sample)
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1
    assert (errors[0].status, errors[0].auth, errors[0].transient) == (status, auth, transient)
    assert parser.result is not None and not parser.result.ok
    assert parser.fatal_error == errors[0]


def test_amp_result_has_no_usage_so_assistant_usage_is_summed_and_priced() -> None:
    adapter = get_adapter("amp")
    events, parser = replay_file(adapter, SAMPLES / "amp_run1.jsonl")
    usage = parser.usage
    assert (usage.input_tokens, usage.output_tokens) == (1200 + 1500, 40 + 25)
    assert (usage.cache_creation_tokens, usage.cache_read_tokens) == (300 + 200, 5000 + 6200)
    assert parser.reported_cost is None
    # Sonnet-class rates for Amp's default: 2700*3 + 65*15 + 11200*0.30 + 500*3.75, per million
    assert adapter.cost(parser, model=None, prices=None) == pytest.approx(0.01431)
    assert adapter.recorded_model(parser, None) == "amp"
    assert adapter.recorded_model(parser, "high") == "amp:high"
    # a config price for the mode wins over the default
    assert adapter.cost(parser, model="high", prices={"amp:high": Price(input=1, output=1)}) == pytest.approx(
        (2700 + 65 + 11200 + 500) / 1e6
    )
    assert parser.thread_id == "T-0b7c5a1e-2f44-4c1d-9a8e-5d3f2c1b0a99"
    assert [e.kind for e in events].count("tool_call") == 1
    assert parser.summary == "Created hello.txt containing hi."


def test_amp_error_result_is_a_failed_result() -> None:
    lines = [
        '{"type":"system","subtype":"init","session_id":"T-1","cwd":"/x","tools":[],"mcp_servers":[]}',
        '{"type":"result","subtype":"error_during_execution","is_error":true,"error":"API Error: 500 boom",'
        '"duration_ms":5,"num_turns":1,"session_id":"T-1"}',
    ]
    _events, parser = replay_lines(get_adapter("amp"), lines)
    assert parser.result is not None and not parser.result.ok
    assert parser.fatal_error is not None and parser.fatal_error.transient
    assert parser.fatal_error.message == "API Error: 500 boom"


def test_amp_argv_new_and_continued_thread_and_modes() -> None:
    amp = get_adapter("amp")
    assert amp.build_argv("do it", cwd="/w") == [
        "amp",
        "--execute",
        "do it",
        "--stream-json",
        "--dangerously-allow-all",
    ]
    assert amp.build_argv("again", thread_id="T-9", model="high", cwd="/w") == [
        "amp", "threads", "continue", "T-9", "--execute", "again", "--stream-json", "--dangerously-allow-all", "-m", "high",
    ]  # fmt: skip
    with pytest.raises(AmpsmError) as info:
        amp.build_argv("x", model="gpt-4", cwd="/w")
    assert info.value.code.value == "E002" and "low|medium|high|ultra" in info.value.message
    long_prompt = "y" * 200_000
    argv = amp.build_argv(long_prompt, cwd="/w")
    assert long_prompt not in argv and amp.stdin_data(long_prompt) == long_prompt.encode()


def test_claude_argv() -> None:
    claude = get_adapter("claude")
    assert claude.build_argv("hi", thread_id="S1", model="claude-haiku-4-5", cwd="/w") == [
        "claude", "-p", "hi", "--output-format", "stream-json", "--verbose", "--resume", "S1",
        "--model", "claude-haiku-4-5", "--permission-mode", "bypassPermissions",
    ]  # fmt: skip


def test_unknown_agent_is_e002() -> None:
    with pytest.raises(AmpsmError) as info:
        get_adapter("copilot")
    assert info.value.code.value == "E002"


def test_garbage_lines_become_raw_events_and_never_raise() -> None:
    lines = [
        "not json at all",
        "{broken",
        "[1, 2]",
        '"a string"',
        '{"no_type": 1}',
        '{"type": "mystery"}',
        '{"type": "assistant", "message": "not a dict"}',
        '{"type": "assistant", "message": {"content": [1, null, {"type": "text"}], "usage": {"input_tokens": "x"}}}',
        '{"type": "user", "message": {"content": "plain"}}',
        '{"type": "result", "is_error": "maybe", "usage": []}',
        "\ufffd\ufffd bad bytes",
    ]
    events, parser = replay_lines(get_adapter("claude"), lines)
    raws = [e for e in events if isinstance(e, RawEvent)]
    assert [r.text for r in raws] == [
        "not json at all", "{broken", "[1, 2]", '"a string"', '{"no_type": 1}', '{"type": "mystery"}', "\ufffd\ufffd bad bytes",
    ]  # fmt: skip
    assert parser.raw_lines == 7
    assert any(isinstance(e, ResultEvent) for e in events)


def test_error_classification() -> None:
    assert classify_error("unexpected status 401 Unauthorized: bad key").auth
    assert classify_error("Request rejected (429)").transient
    assert classify_error("We're currently experiencing high demand, which may cause temporary errors.").transient
    assert not classify_error("gateway at 127.0.0.1:18080 said no").transient
    plain = classify_error("the agent gave up")
    assert not plain.auth and not plain.transient
