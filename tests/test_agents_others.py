"""Codex, Gemini, Aider and command adapters; pricing; the claude and codex fakes end to end."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from ampsm_tui.engine.agents.base import (
    ErrorEvent,
    TextEvent,
    ToolCallEvent,
    ToolResultEvent,
    Usage,
    UsageEvent,
    replay_file,
    replay_lines,
)
from ampsm_tui.engine.agents.pricing import lookup_price, price_usage
from ampsm_tui.engine.agents.process import run_agent
from ampsm_tui.engine.agents.registry import get_adapter
from ampsm_tui.engine.config import Price
from ampsm_tui.engine.errors import AmpsmError
from ampsm_tui.engine.models import IterationStatus
from tests.conftest import FAKES, git

SAMPLES = Path(__file__).parent / "fixtures" / "agent-samples"


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_AGENT_STATE", str(tmp_path / "fake-state"))
    for var in ("FAKE_AGENT_MODE", "FAKE_AGENT_LOG", "FAKE_AGENT_ERROR", "FAKE_AGENT_DELAY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "fake-state"


# --- codex ---------------------------------------------------------------------------------------------


def test_codex_run_usage_splits_cached_input_and_is_priced_by_model() -> None:
    adapter = get_adapter("codex")
    events, parser = replay_file(adapter, SAMPLES / "codex_run1.jsonl")
    usage = parser.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (4690 - 2048, 2048, 174)
    assert usage.total == 4690 + 174
    assert parser.thread_id == "01a20d90-dc76-7542-85a2-42073450f13c"
    assert parser.result is not None and parser.result.ok
    assert parser.summary == "Created hello.txt containing hi."
    calls = [e for e in events if isinstance(e, ToolCallEvent)]
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert [(c.id, c.name) for c in calls] == [("item_1", "command")]
    assert "echo hi > hello.txt" in calls[0].input_summary
    assert [(r.id, r.ok) for r in results] == [("item_1", True)]
    # the "model metadata" error item is a warning, not the turn's failure
    warnings = [e for e in events if isinstance(e, ErrorEvent)]
    assert len(warnings) == 1 and not warnings[0].fatal and parser.fatal_error is None
    # no model in the stream: unpriced unless the model asked for is known
    assert adapter.cost(parser, model=None, prices=None) is None
    assert adapter.cost(parser, model="gpt-5.1-codex", prices=None) == pytest.approx(
        (2642 * 1.25 + 2048 * 0.125 + 174 * 10) / 1e6
    )


def test_codex_resume_usage() -> None:
    _events, parser = replay_file(get_adapter("codex"), SAMPLES / "codex_resume.jsonl")
    assert (parser.usage.input_tokens, parser.usage.cache_read_tokens, parser.usage.output_tokens) == (3963, 3072, 261)


@pytest.mark.parametrize(
    ("sample", "auth", "transient"), [("codex_fail401.jsonl", True, False), ("codex_fail500.jsonl", False, True)]
)
def test_codex_failures_are_classified(sample: str, auth: bool, transient: bool) -> None:
    events, parser = replay_file(get_adapter("codex"), SAMPLES / sample)
    fatal = [e for e in events if isinstance(e, ErrorEvent) and e.fatal]
    assert len(fatal) == 1  # `error` and the `turn.failed` repeating it count once
    assert (fatal[0].auth, fatal[0].transient) == (auth, transient)
    assert parser.result is not None and not parser.result.ok


def test_codex_argv() -> None:
    codex = get_adapter("codex")
    assert codex.build_argv("fix it", model="gpt-5-codex", cwd="/w") == [
        "codex", "exec", "--json", "-m", "gpt-5-codex", "--dangerously-bypass-approvals-and-sandbox", "fix it",
    ]  # fmt: skip
    assert codex.build_argv("more", thread_id="01a2", cwd="/w")[:5] == ["codex", "exec", "resume", "01a2", "--json"]


# --- gemini --------------------------------------------------------------------------------------------


def test_gemini_deltas_are_joined_and_result_stats_are_usage() -> None:
    adapter = get_adapter("gemini")
    events, parser = replay_file(adapter, SAMPLES / "gemini_run1.jsonl")
    texts = [e.text for e in events if isinstance(e, TextEvent)]
    assert texts == ["I'll create the file.", "Created hello.txt containing hi."]
    usage = parser.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (6144, 4096, 80)
    assert parser.model == "gemini-2.5-pro" and parser.thread_id == "56e2d730-18e4-4d52-837b-fd0c3d40668d"
    assert parser.summary == "Created hello.txt containing hi."
    assert [e.kind for e in events].count("tool_call") == 1
    # genai-prices: gemini-2.5-pro $1.25/M input, $0.125/M cached, $10/M output
    assert adapter.cost(parser, model=None, prices=None) == pytest.approx((6144 * 1.25 + 4096 * 0.125 + 80 * 10) / 1e6)


def test_gemini_deltas_are_flushed_at_end_of_stream() -> None:
    lines = ['{"type":"message","role":"assistant","content":"half ","delta":true}',
             '{"type":"mystery"}',
             '{"type":"message","role":"assistant","content":"done","delta":true}']  # fmt: skip
    events, parser = replay_lines(get_adapter("gemini"), lines)
    assert [e.text for e in events if isinstance(e, TextEvent)] == ["half done"]
    assert parser.result is None and parser.raw_lines == 1


@pytest.mark.parametrize(
    ("sample", "auth", "transient"), [("gemini_fail401.jsonl", True, False), ("gemini_fail500.jsonl", False, True)]
)
def test_gemini_failures_are_classified(sample: str, auth: bool, transient: bool) -> None:
    events, parser = replay_file(get_adapter("gemini"), SAMPLES / sample)
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and (errors[0].auth, errors[0].transient) == (auth, transient)
    assert parser.result is not None and not parser.result.ok


def test_gemini_argv() -> None:
    assert get_adapter("gemini").build_argv("go", thread_id="x", model="gemini-2.5-pro", cwd="/w") == [
        "gemini", "-p", "go", "--output-format", "stream-json", "--yolo", "-m", "gemini-2.5-pro", "--resume", "latest",
    ]  # fmt: skip


# --- aider ---------------------------------------------------------------------------------------------


def test_aider_text_lines_and_token_report() -> None:
    adapter = get_adapter("aider")
    lines = [
        "Aider v0.86.1",
        "Main model: claude-sonnet-4-5 with diff edit format",
        "Applied edit to app.py",
        "Tokens: 12k sent, 2.0k cache write, 8.5k cache hit, 345 received. Cost: $0.0123 message, $0.0456 session.",
        "Tokens: 1,234 sent, 56 received.",
        "Tokens: none to report",
    ]
    events, parser = replay_lines(adapter, lines)
    assert [e.text for e in events if isinstance(e, TextEvent)] == lines
    usages = [e for e in events if isinstance(e, UsageEvent)]
    assert len(usages) == 2 and (usages[1].input_tokens, usages[1].output_tokens) == (1234, 56)
    assert (usages[0].input_tokens, usages[0].cache_creation_tokens, usages[0].cache_read_tokens) == (1500, 2000, 8500)
    assert usages[0].output_tokens == 345
    assert adapter.cost(parser, model=None, prices=None) == pytest.approx(0.0123)
    assert parser.model == "claude-sonnet-4-5"
    assert adapter.build_argv("p", thread_id="t", model="gpt-5", cwd="/w") == [
        "aider", "--message", "p", "--yes-always", "--no-auto-commits", "--no-stream",
        "--chat-history-file", "/w/.ampsm/aider/chat.history.md",
        "--input-history-file", "/w/.ampsm/aider/input.history",
        "--model", "gpt-5", "--restore-chat-history",
    ]  # fmt: skip
    missing = Path(tempfile.mkdtemp()) / "gone"
    adapter.build_argv("p", cwd=missing)
    assert not missing.exists()  # building an argument list creates nothing outside a worktree


# --- pricing ---------------------------------------------------------------------------------------------


def test_pricing_unknown_model_is_unpriced_never_zero() -> None:
    usage = Usage(input_tokens=1000, output_tokens=10)
    assert price_usage("some-local-llm", usage) is None
    assert price_usage(None, usage) is None
    assert price_usage("some-local-llm", usage, {"some-local-llm": Price(input=0, output=0)}) == 0.0


def test_pricing_prefix_and_override() -> None:
    assert lookup_price("claude-sonnet-4-5-20250929") == lookup_price("claude-sonnet-4-5")
    assert lookup_price("amp:ultra") == lookup_price("amp")
    assert lookup_price("gpt-5.1-codex-max") == lookup_price("gpt-5.1-codex")
    assert lookup_price("claude-sonnetish") is None
    override = {"claude-sonnet-4-5": Price(input=1.0, output=2.0)}
    # no cache prices in the override: cache tokens are charged at the input rate
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=1_000_000)
    assert price_usage("claude-sonnet-4-5", usage, override) == pytest.approx(1.0 + 2.0 + 1.0)


def test_registry_prices_are_kept_on_disk(isolated_env: Path) -> None:
    """A priced turn no longer imports genai-prices (a third of a second) once its rates are known:
    the next process reads them from the config folder's cache, unknown models included."""
    import subprocess
    import sys

    from ampsm_tui.engine.agents import pricing

    pricing._registry_price.cache_clear()
    known, unknown = lookup_price("claude-sonnet-4-5"), lookup_price("claude-sonnetish")
    assert known is not None and unknown is None
    assert (isolated_env / "cache" / "prices.json").is_file()
    code = (
        "import sys; from ampsm_tui.engine.agents.pricing import lookup_price as p; "
        "k = p('claude-sonnet-4-5'); print(k.model_dump_json(), p('claude-sonnetish'), 'genai_prices' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [known.model_dump_json(), "None", "False"]
    # a cache entry that is not a price is computed again, never trusted
    data = json.loads((isolated_env / "cache" / "prices.json").read_text())
    data = {key: ["x", 1, 2, 3] for key in data}
    (isolated_env / "cache" / "prices.json").write_text(json.dumps(data))
    pricing._registry_price.cache_clear()
    assert lookup_price("claude-sonnet-4-5") == known


def test_claude_cost_comes_from_its_result_even_with_overrides() -> None:
    adapter = get_adapter("claude")
    _events, parser = replay_file(adapter, SAMPLES / "claude_run1.jsonl")
    assert adapter.cost(
        parser, model=None, prices={"claude-sonnet-4-5": Price(input=100, output=100)}
    ) == pytest.approx(0.048618)


# --- command -------------------------------------------------------------------------------------------------


async def test_command_agent_runs_sed_style_edits_across_the_repo(repo: Path) -> None:
    sed = shutil.which("sed")
    assert sed is not None
    (repo / "lib.py").write_text("from app import add\nprint(add(1, 2))\n")
    adapter = get_adapter("command", "sed -i s/add/plus/g app.py lib.py")
    result = await run_agent(adapter, "rename add to plus", cwd=repo)
    assert result.status == IterationStatus.COMPLETED
    assert "plus" in (repo / "app.py").read_text() and "add" not in (repo / "lib.py").read_text()
    assert result.total_tokens == 0 and result.cost_usd == 0.0
    assert "app.py" in git(repo, "status", "--porcelain")


def test_command_agent_rejects_bad_input() -> None:
    for cmd in (None, "", "   ", "unterminated 'quote"):
        with pytest.raises(AmpsmError):
            get_adapter("command", cmd)
    with pytest.raises(AmpsmError):
        get_adapter("command", "true").build_argv("x", model="gpt-5", cwd="/w")
    with pytest.raises(AmpsmError):
        get_adapter("amp", "echo hi")  # --agent-cmd for another agent would be silently ignored


def test_command_agent_check_never_runs_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "ran"
    script = tmp_path / "codemod.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    assert get_adapter("command", str(script)).check() == {"agent": "command", "path": str(script), "version": None}
    assert get_adapter("command", "./relative.sh --all").check()["path"] == "./relative.sh"  # resolved in the worktree
    assert not marker.exists()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(AmpsmError) as info:
        get_adapter("command", "sed -i s/a/b/ x").check()
    assert info.value.code.value == "E002"


def test_command_agent_never_puts_the_prompt_on_the_command_line() -> None:
    adapter = get_adapter("command", "python3 tool.py --fix")
    prompt = "'; rm -rf / #"
    argv = adapter.build_argv(prompt, cwd="/w")
    assert argv == ["/bin/sh", "-c", "python3 tool.py --fix"]  # like --script; the prompt is never in it
    assert not any(prompt in word for word in argv)
    assert adapter.extra_env(prompt) == {"AMPSM_PROMPT": prompt} and adapter.stdin_data(prompt) == prompt.encode()


async def test_command_agent_runs_through_sh_like_the_script(tmp_path: Path) -> None:
    """A batch's `agentCmd: "a; b"` is two commands, as `--script` would be (it used to be split with
    shlex into one program with odd arguments); a missing first program is still E002 up front."""
    from ampsm_tui.engine.engine import Engine

    repo = tmp_path / "sh-repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "initial")
    engine = await Engine.open()
    try:
        session = await engine.sessions.create(
            repo=repo,
            name="two commands",
            agent="command",
            agent_cmd='echo one > a.txt; printf %s "$AMPSM_PROMPT" > b.txt',
        )
        iteration = await engine.sessions.iterate(session.id, "the prompt; not a command")
    finally:
        await engine.close()
    assert iteration.status == "completed" and iteration.files_changed == 2
    wt = Path(session.worktree_path)
    assert (wt / "a.txt").read_text() == "one\n" and (wt / "b.txt").read_text() == "the prompt; not a command"
    with pytest.raises(AmpsmError) as info:
        get_adapter("command", "no-such-program-xyz --fix; true").check()
    assert info.value.code.value == "E002"
    assert get_adapter("command", "cd sub && make").check()["path"] == "/bin/sh"


# --- the claude and codex fakes, end to end ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "resume_flag", "tokens"),
    [("claude", "--resume", (3046, 60, 8400, 23600)), ("codex", "resume", (2642, 174, 0, 2048))],
)
async def test_fake_turns_continue_their_thread(
    repo: Path,
    fakes: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    agent: str,
    resume_flag: str,
    tokens: tuple[int, ...],
) -> None:
    argv_log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_AGENT_LOG", str(argv_log))
    adapter = get_adapter(agent)
    first = await run_agent(adapter, "make hello", cwd=repo)
    assert first.status == IterationStatus.COMPLETED, first.error
    assert (first.input_tokens, first.output_tokens, first.cache_creation_tokens, first.cache_read_tokens) == tokens
    second = await run_agent(adapter, "again", cwd=repo, thread_id=first.thread_id)
    assert second.status == IterationStatus.COMPLETED and second.thread_id == first.thread_id
    calls = [json.loads(line) for line in argv_log.read_text().splitlines()]
    assert resume_flag in calls[1]["argv"] and first.thread_id in calls[1]["argv"] and calls[1]["turn"] == 2
    assert (repo / "hello.txt").read_text() == "hi\nturn 2\n"


async def test_fake_fail_once_then_succeeds(repo: Path, fakes: Path) -> None:
    adapter = get_adapter("codex")
    first = await run_agent(adapter, "[fake:fail-once] go", cwd=repo)
    assert first.status == IterationStatus.FAILED and first.transient
    second = await run_agent(adapter, "[fake:fail-once] go", cwd=repo)
    assert second.status == IterationStatus.COMPLETED


async def test_fake_claude_fix_on_second_turn(repo: Path, fakes: Path) -> None:
    adapter = get_adapter("claude")
    first = await run_agent(adapter, "[fake:fix-on-second-turn] add()", cwd=repo)
    assert "a - b" in (repo / "calc.py").read_text()
    second = await run_agent(adapter, "the test failed: fix it", cwd=repo, thread_id=first.thread_id)
    assert second.status == IterationStatus.COMPLETED
    # the follow-up prompt carries no marker: the thread remembers its mode
    assert (repo / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
