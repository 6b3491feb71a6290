"""Issue 13's defects, each pinned by a quick test (the real CLIs' runs are in test_real_agents.py)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ampsm_tui.engine import doctor
from ampsm_tui.engine.agents import preflight
from ampsm_tui.engine.agents.base import Usage, classify_error, replay_file, strip_ansi
from ampsm_tui.engine.agents.claude import ClaudeAdapter
from ampsm_tui.engine.agents.codex import CodexAdapter
from ampsm_tui.engine.agents.gemini import GeminiAdapter
from ampsm_tui.engine.agents.pricing import lookup_price, normalize_model, price_usage
from ampsm_tui.engine.agents.process import earlier_streams, run_agent
from ampsm_tui.engine.agents.registry import get_adapter
from ampsm_tui.engine.agents.streamjson import StreamJsonParser
from ampsm_tui.engine.errors import AmpsmError
from tests.conftest import FAKES, run_cli

SAMPLES = Path(__file__).parent / "fixtures" / "agent-samples"
TID = "01a233b6-1a78-7922-b9f3-c5f6b8d38945"


def _codex_turn(cumulative: tuple[int, int, int]) -> str:
    """A codex 0.171 `exec --json` turn (shapes as printed by the real CLI against the scripted server)."""
    inp, cached, out = cumulative
    lines = [
        {"type": "thread.started", "thread_id": TID},
        {"type": "turn.started"},
        {"type": "item.completed", "item": {"id": "item_1", "type": "agent_message", "text": "Done"}},
        {
            "type": "turn.completed",
            "usage": {
                "input_tokens": inp,
                "cached_input_tokens": cached,
                "cache_write_input_tokens": 0,
                "output_tokens": out,
                "reasoning_output_tokens": 0,
            },
        },
    ]
    return "".join(json.dumps(x) + "\n" for x in lines)


def test_codex_resumed_turn_counts_only_its_own_tokens(tmp_path: Path) -> None:
    streams = tmp_path / "sess-1"
    streams.mkdir()
    (streams / "0001.jsonl").write_text(_codex_turn((302, 81, 45)))
    (streams / "0002.jsonl").write_text(_codex_turn((624, 162, 92)))  # what codex printed: the thread's totals
    adapter = CodexAdapter()
    adapter.resume_from(earlier_streams(streams / "0002.jsonl"), TID)
    _events, parser = replay_file(adapter, streams / "0002.jsonl")
    assert parser.usage == Usage(input_tokens=(624 - 162) - (302 - 81), output_tokens=92 - 45, cache_read_tokens=81)
    # a new thread (no thread id) has no baseline
    adapter.resume_from(earlier_streams(streams / "0002.jsonl"), None)
    _events, parser = replay_file(adapter, streams / "0001.jsonl")
    assert parser.usage == Usage(input_tokens=302 - 81, output_tokens=45, cache_read_tokens=81)


def test_earlier_streams_are_ordered_by_iteration_then_attempt(tmp_path: Path) -> None:
    for name in ("0002.jsonl", "0001.attempt2.jsonl", "0001.jsonl", "0003.jsonl", "notes.txt"):
        (tmp_path / name).write_text("")
    assert [p.name for p in earlier_streams(tmp_path / "0003.jsonl")] == [
        "0001.jsonl",
        "0001.attempt2.jsonl",
        "0002.jsonl",
    ]


def test_claude_resumed_turn_cost_is_the_turns_own_not_the_sessions() -> None:
    """Claude Code 2.1 restores the session's cost on --resume: total_cost_usd is cumulative."""
    _events, parser = replay_file(get_adapter("claude"), SAMPLES / "claude2_resume.jsonl")
    result = json.loads((SAMPLES / "claude2_resume.jsonl").read_text().splitlines()[-1])
    own = sum(m["costUSD"] for m in result["model_usage_since_last_result"].values())
    assert parser.reported_cost == pytest.approx(own)
    assert parser.reported_cost < result["total_cost_usd"]
    assert parser.usage.input_tokens == result["usage"]["input_tokens"]


def test_gemini_trusts_the_worktree_when_approvals_are_bypassed() -> None:
    assert GeminiAdapter(allow_all=True).extra_env("p") == {"GEMINI_CLI_TRUST_WORKSPACE": "true"}
    assert GeminiAdapter(allow_all=False).extra_env("p") == {}


def test_claude_as_root_is_e002_with_the_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    with pytest.raises(AmpsmError) as err:
        ClaudeAdapter().check()
    assert str(err.value).startswith("E002")
    assert "root" in err.value.message and "IS_SANDBOX=1" in err.value.message
    assert ClaudeAdapter(allow_all=False).check()["path"]  # without bypassPermissions Claude runs as root
    monkeypatch.setenv("IS_SANDBOX", "1")
    assert ClaudeAdapter().check()["path"]


async def test_doctor_warns_about_claude_as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    (claude,) = [c for c in await doctor.check_agents() if c.name == "agent claude"]
    assert not claude.ok and "root" in claude.detail and "IS_SANDBOX=1" in claude.fix
    monkeypatch.setenv("IS_SANDBOX", "1")
    (claude,) = [c for c in await doctor.check_agents() if c.name == "agent claude"]
    assert claude.ok


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


async def test_version_probes_read_the_version_from_stdout_and_a_hang_is_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    warn = "echo 'WARNING: proceeding, even though we could not create PATH aliases' >&2\n"
    _script(bindir / "codex", warn + "echo 'codex-cli 0.171.0'\n")
    _script(bindir / "gemini", "sleep 30\n")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}/usr/bin:/bin")
    monkeypatch.setattr(doctor, "PROBE_TIMEOUT_S", 3.0)  # the hang is reported after this
    assert preflight.binary_version(str(bindir / "codex")) == "0.171.0"
    checks = {c.name: c for c in await doctor.check_agents()}
    assert checks["agent codex"].ok and checks["agent codex"].detail == "0.171.0"
    assert not checks["agent gemini"].ok and "no answer" in checks["agent gemini"].detail
    monkeypatch.setattr(preflight, "VERSION_TIMEOUT_S", 0.5)
    with pytest.raises(AmpsmError, match="did not answer"):
        preflight.binary_version(str(bindir / "gemini"))


def test_model_names_are_normalised_before_pricing() -> None:
    assert normalize_model("claude-opus-4-8[1m]") == "claude-opus-4-8"
    assert normalize_model("openai/gpt-5") == "gpt-5"
    assert lookup_price("claude-opus-4-8[1m]") == lookup_price("claude-opus-4-8") is not None
    parser = StreamJsonParser()
    parser.model = "claude-opus-4-8[1m]"
    assert ClaudeAdapter().recorded_model(parser, None) == "claude-opus-4-8"


def test_prices_come_from_genai_prices_and_unknown_models_stay_unpriced() -> None:
    usage = Usage(input_tokens=1000, output_tokens=100)
    # the agents' current defaults, which the hand-kept table lacked
    for model in ("claude-opus-4-8", "gemini-3-pro-preview", "gpt-5.1-codex-max"):
        assert price_usage(model, usage) not in (None, 0.0), model
    assert price_usage("scripted-model", usage) is None
    assert get_adapter("codex").cost(get_adapter("codex").new_parser(), model="scripted-model", prices=None) is None


def test_ansi_codes_are_stripped_from_errors() -> None:
    red = "\x1b[31mGemini CLI is not running in a trusted directory.\x1b[0m"
    assert classify_error(red).message == "Gemini CLI is not running in a trusted directory."
    assert strip_ansi("\x1b]8;;http://x\x07link\x1b]8;;\x07") == "link"


async def test_stored_error_from_stderr_has_no_ansi(tmp_path: Path) -> None:
    script = _script(tmp_path / "agent", "printf '\\033[31mboom: 500 internal\\033[0m\\n' >&2\nexit 1\n")
    adapter = get_adapter("command", str(script))
    result = await run_agent(adapter, "p", cwd=tmp_path)
    assert result.error and "\x1b" not in result.error and "boom: 500 internal" in result.error


def test_each_attempt_keeps_its_own_stream_and_retries_stay_within_the_turns_budget(
    repo: Path, tmp_path: Path, isolated_env: Path
) -> None:
    (isolated_env / "config.yaml").write_text("amp:\n  retry_attempts: 2\n")
    state = tmp_path / "fake-state"
    state.mkdir()
    env = {
        "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
        "AMP_API_KEY": "amp-test-key-0123456789",
        "FAKE_AGENT_LOG": str(tmp_path / "calls.jsonl"),
        "FAKE_AGENT_MODE": "fail-once",
        "FAKE_AGENT_STATE": str(state),
    }
    out = run_cli("new", "--repo", str(repo), "--name", "x", "--prompt", "p", "--run", "--json", env=env)
    assert out.returncode == 0, out.stderr
    streams = sorted(p.name for p in (isolated_env / "streams").rglob("*.jsonl"))
    assert streams == ["0001.attempt2.jsonl", "0001.jsonl"]
    shown = json.loads(run_cli("status", json.loads(out.stdout)["id"], "--json").stdout)["iterations"][0]
    assert Path(shown["raw_log_path"]).name == "0001.attempt2.jsonl"  # the attempt whose output counts

    # a persistent transient failure: five retries allowed, but the turn's budget (2.5 s) is spent
    # before the backoff would let them run (the first retry waits 1 s, the second 2 s)
    (isolated_env / "config.yaml").write_text("amp:\n  retry_attempts: 5\n")
    (tmp_path / "calls.jsonl").unlink()
    env |= {"FAKE_AGENT_MODE": "fail", "FAKE_AGENT_ERROR": "500"}
    out = run_cli("new", "--repo", str(repo), "--name", "y", "--prompt", "p", "--timeout", "2.5", "--run", env=env)
    assert out.returncode != 0 and out.stderr.startswith("E002:")
    assert len((tmp_path / "calls.jsonl").read_text().splitlines()) <= 2


def test_aider_api_error_it_gave_up_on_fails_the_turn_even_with_exit_0() -> None:
    """Aider 0.86 prints litellm's error (wrapped at 80 columns) and exits 0."""
    from ampsm_tui.engine.agents.base import replay_lines

    gave_up = [
        "Model: openai/scripted-model with whole edit format",
        "litellm.AuthenticationError: AuthenticationError: OpenAIException - scripted: ",
        "invalid api key",
        "The API provider is not able to authenticate you. Check your API key.",
        "",
    ]
    _events, parser = replay_lines(get_adapter("aider"), gave_up)
    assert parser.result is not None and not parser.result.ok
    error = parser.fatal_error
    assert error is not None and error.auth and "scripted: invalid api key" in error.message
    retried = [
        "litellm.RateLimitError: RateLimitError: OpenAIException - slow down",
        "Retrying in 0.2 seconds...",
        "Tokens: 110 sent, 21 received.",
    ]
    _events, parser = replay_lines(get_adapter("aider"), retried)
    assert parser.result is None and parser.fatal_error is None
