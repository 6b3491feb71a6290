"""Issue 13: the real Claude Code, Codex, Gemini CLI and Aider run whole sessions through `ampsm`.

Each CLI (installed at pinned versions by `make agents`, under .venv/) is pointed at the scripted model
server in tests/scripted_model_server.py, never at the network. The server plays a turn that edits a
file with the agent's own tools, then answers; its usage numbers are known, so ampsm's metrics can be
compared with what the server really reported, turn by turn, resumed turns included.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ampsm_tui.engine.agents.amp import AmpAdapter
from ampsm_tui.engine.agents.pricing import price_usage
from tests.conftest import ROOT, db_rows, git, run_cli
from tests.scripted_model_server import ScriptedModelServer

NPM_BIN = ROOT / ".venv" / "agents" / "node_modules" / ".bin"
AIDER = ROOT / ".venv" / "aider" / "bin" / "aider"
SECRETS = {
    "claude": ("ANTHROPIC_API_KEY", "sk-ant-scripted-0123456789"),
    "codex": ("OPENAI_API_KEY", "sk-scripted-codex-0123456789"),
    "gemini": ("GEMINI_API_KEY", "gm-scripted-0123456789"),
    "aider": ("OPENAI_API_KEY", "sk-scripted-aider-0123456789"),
}
#: the model each session asks for (the server echoes it; prices come from genai-prices)
MODELS = {"claude": "claude-sonnet-4-5", "codex": "gpt-5.1-codex", "gemini": "gemini-2.5-flash", "aider": None}
AIDER_MODEL = "openai/scripted-model"  # unknown to every price list: stays "unpriced"
#: tool calls ampsm records per turn, by name, for the server's script
TOOLS = {
    "claude": (["Write"], ["Edit", "Read"]),
    "codex": (["command"], ["file_change"]),
    "gemini": (["write_file"], ["replace"]),
    "aider": ([], []),
}
#: token counters ampsm keeps -> the server's names
COUNTERS = {
    "input_tokens": "input",
    "output_tokens": "output",
    "cache_read_tokens": "cache_read",
    "cache_creation_tokens": "cache_write",
}
ANSI = re.compile(r"\x1b\[")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _binary(agent: str) -> Path:
    path = AIDER if agent == "aider" else NPM_BIN / agent
    assert path.exists(), f"{path} is missing: `make agents` installs the pinned agent CLIs"
    return path


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    srv = ScriptedModelServer().start()
    yield srv
    srv.stop()


def agent_env(agent: str, server: ScriptedModelServer, tmp: Path) -> dict[str, str]:
    """PATH with only this agent added, a private HOME, the agent's base URL and a key; the agents'
    own retries are turned off so a failing turn ends quickly (ampsm must not retry them either)."""
    bindir = tmp / "agent-bin"
    bindir.mkdir(exist_ok=True)
    link = bindir / agent
    if not link.exists():
        link.symlink_to(_binary(agent))
    home = tmp / "agent-home"
    home.mkdir(exist_ok=True)
    var, key = SECRETS[agent]
    env = {
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        var: key,
        # anything that tries the network instead of the server fails at once
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    if agent == "claude":
        env |= {
            "ANTHROPIC_BASE_URL": server.url,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_MAX_RETRIES": "0",
            "IS_SANDBOX": "1",  # the tests run as root in CI
        }
    elif agent == "codex":
        codex_home = tmp / "codex-home"
        codex_home.mkdir(exist_ok=True)
        (codex_home / "config.toml").write_text(
            'model_provider = "scripted"\n'
            "[model_providers.scripted]\n"
            'name = "scripted"\n'
            f'base_url = "{server.url}/v1"\n'
            'env_key = "OPENAI_API_KEY"\n'
            'wire_api = "responses"\n'
            "request_max_retries = 0\n"
            "stream_max_retries = 0\n"
        )
        env["CODEX_HOME"] = str(codex_home)
    elif agent == "gemini":
        settings = {
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": False},
            "general": {"disableAutoUpdate": True, "maxAttempts": 1},
        }
        (home / ".gemini").mkdir(exist_ok=True)
        (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
        env["GOOGLE_GEMINI_BASE_URL"] = server.url
    elif agent == "aider":
        env |= {
            "OPENAI_API_BASE": f"{server.url}/v1",
            "AIDER_CHECK_UPDATE": "false",
            "AIDER_ANALYTICS": "false",
            "AIDER_SHOW_RELEASE_NOTES": "false",
            "AIDER_EDIT_FORMAT": "whole",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
    return env


def new_session(agent: str, repo: Path, env: dict[str, str], prompt: str) -> subprocess.CompletedProcess[str]:
    model = MODELS[agent] or AIDER_MODEL
    args = ["new", "--repo", str(repo), "--name", f"{agent} e2e", "--prompt", prompt, "--agent", agent]
    return run_cli(*args, "--model", model, "--run", "--json", env=env, timeout=600)


def session_id(cfg: Path) -> str:
    (s,) = db_rows(cfg, "SELECT id FROM sessions")
    return str(s["id"])


def expected_cost(agent: str, server: ScriptedModelServer, turn: int, stream: Path) -> float | None:
    """What the turn should cost: Claude's own per-turn figure, else the model's genai-prices rate."""
    if agent == "claude":
        result = [json.loads(x) for x in stream.read_text().splitlines() if '"type":"result"' in x][-1]
        per_turn = result["model_usage_since_last_result"]
        return float(sum(m["costUSD"] for m in per_turn.values()))
    from ampsm_tui.engine.agents.base import Usage

    u = server.turn_usage(turn)
    usage = Usage(
        input_tokens=u["input"],
        output_tokens=u["output"],
        cache_read_tokens=u["cache_read"],
        cache_creation_tokens=u["cache_write"],
    )
    return price_usage(MODELS[agent] or AIDER_MODEL, usage)


@pytest.mark.parametrize("agent", ["claude", "codex", "gemini", "aider"])
def test_real_agent_session_runs_resumes_and_records_true_numbers(
    agent: str, repo: Path, server: ScriptedModelServer, tmp_path: Path, isolated_env: Path
) -> None:
    env = agent_env(agent, server, tmp_path)

    out = new_session(agent, repo, env, "create hello.txt")
    assert out.returncode == 0, out.stderr + out.stdout
    sid = session_id(isolated_env)
    (s,) = db_rows(isolated_env, "SELECT * FROM sessions")
    wt = Path(s["worktree_path"])
    assert (wt / "hello.txt").read_text() == "turn 1\n"
    assert server.main_requests(1), [r.path for r in server.log]

    out = run_cli("iterate", sid, "--prompt", "bump the turn", "--json", env=env, timeout=600)
    assert out.returncode == 0, out.stderr + out.stdout
    assert (wt / "hello.txt").read_text() == "turn 2\n"
    # the resumed turn carried the earlier conversation: the server saw the first prompt again
    turn2 = server.main_requests(2)
    seen = [json.dumps(r.body) for r in turn2]
    assert seen and all("create hello.txt" in body for body in seen), seen[0][-3000:] if seen else server.log

    iterations = db_rows(isolated_env, "SELECT * FROM iterations ORDER BY number")
    assert [it["status"] for it in iterations] == ["completed", "completed"]
    metrics = json.loads(run_cli("metrics", sid, "--json", env=env).stdout)
    for it, m in zip(iterations, metrics["iterations"], strict=True):
        want = server.turn_usage(it["number"])
        got = {name: m[column] for column, name in COUNTERS.items()}
        if agent in ("codex", "gemini", "aider"):
            want["cache_write"] = 0  # these APIs report no cache writes
        if agent == "aider":
            want["cache_read"] = 0
        assert got == want, f"turn {it['number']}"
        cost = expected_cost(agent, server, it["number"], Path(it["raw_log_path"]))
        if cost is None:
            assert m["cost_usd"] is None  # unpriced, never $0
        else:
            assert m["cost_usd"] == pytest.approx(cost, rel=1e-6)
        assert not (it["error"] or "")

    calls = db_rows(
        isolated_env, "SELECT i.number, t.name FROM tool_calls t JOIN iterations i ON i.id = t.iteration_id"
    )
    for number, names in enumerate(TOOLS[agent], start=1):
        assert sorted(r["name"] for r in calls if r["number"] == number) == names

    subjects = git(repo, "log", "--format=%s", f"main..{s['branch']}").splitlines()
    assert len(subjects) == 2 and all(x.startswith("amp: ") for x in subjects), subjects
    changed = git(repo, "diff", "--name-only", f"main..{s['branch']}").splitlines()
    assert "hello.txt" in changed and not [p for p in changed if p.startswith((".ampsm", ".aider.chat"))]


FAILURES = [(agent, status) for agent in ("claude", "codex", "gemini", "aider") for status in (401, 429, 500)]


@pytest.mark.parametrize(("agent", "status"), FAILURES, ids=[f"{a}-{s}" for a, s in FAILURES])
def test_real_agent_api_failure_is_e002_with_the_agents_message_and_nothing_false(
    agent: str, status: int, repo: Path, server: ScriptedModelServer, tmp_path: Path, isolated_env: Path
) -> None:
    env = agent_env(agent, server, tmp_path)
    server.fail(status, retry_after=1)

    out = new_session(agent, repo, env, "create hello.txt")

    assert out.returncode != 0
    assert out.stderr.startswith("E002:"), out.stderr
    (it,) = db_rows(isolated_env, "SELECT * FROM iterations")
    error = it["error"] or ""
    assert error and not ANSI.search(error)
    # the agent's own words about the failure, not a generic "exit 1"
    assert str(status) in error or "scripted:" in error or "high demand" in error, error
    assert it["status"] == "failed"
    assert (it["input_tokens"], it["output_tokens"], it["cache_read_tokens"], it["cache_creation_tokens"]) == (
        0,
        0,
        0,
        0,
    )
    assert it["cost_usd"] in (None, 0.0)
    if agent == "aider" and it["commit_sha"]:
        # Aider's first run adds `.aider*` to .gitignore before it calls the model: a real change, kept
        changed = git(repo, "show", "--name-only", "--format=", it["commit_sha"]).splitlines()
        assert changed == [".gitignore"], changed
    else:
        assert it["commit_sha"] is None
    assert db_rows(isolated_env, "SELECT * FROM tool_calls") == []
    # the agent retries by itself (turned off here): ampsm ran it once, so the server saw one request
    failed = [r for r in server.log if r.main and r.status == status]
    streams = list(Path(it["raw_log_path"]).parent.glob("*.jsonl"))
    assert len(streams) == 1
    if agent == "aider":
        # Aider's retries cannot be turned off: its one process tried once plus once per "Retrying in",
        # each try being one OpenAI-client call that itself sends up to 3 requests
        tries = 1 + streams[0].read_text().count("Retrying in")
        assert len(failed) in (tries, 2 * tries, 3 * tries), (len(failed), tries)
    else:
        assert len(failed) == 1, [(r.path, r.status) for r in server.log]


def test_installed_amp_accepts_the_flags_ampsm_passes(tmp_path: Path) -> None:
    """Amp needs its own service (the suite keeps the stand-in in tests/fakes); the installed CLI is
    checked to still parse every flag ampsm passes: it gets as far as connecting to its server."""
    amp = _binary("amp")
    adapter = AmpAdapter()
    adapter.binary = str(amp)
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "AMP_API_KEY": "sgamp_scripted_0123456789",
        "AMP_URL": "http://127.0.0.1:9",  # nothing listens there
    }
    thread = "T-12345678-0000-0000-0000-000000000000"
    for argv in (
        adapter.build_argv("hi", cwd=tmp_path, model="high"),
        adapter.build_argv("hi", cwd=tmp_path, thread_id=thread, model="low"),
    ):
        out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
        said = out.stdout + out.stderr
        # past flag parsing (an unknown flag is "error: unknown option '--x'"), stopped at the network
        assert "unknown option" not in said and "unknown command" not in said, said
        assert re.search(r"couldn't connect|cannot reach", said, re.IGNORECASE), said
    help_text = subprocess.run([str(amp), "--help"], capture_output=True, text=True, env=env, timeout=120).stdout
    for flag in ("--execute", "--stream-json", "--mode"):
        assert flag in help_text
    assert "threads" in help_text
