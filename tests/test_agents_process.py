"""Agent turns as real subprocesses, driven against the fake agents in tests/fakes/."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
import sys
import uuid
from pathlib import Path

import pytest

from ampsm_tui.engine.agents.base import AgentEvent, RawEvent, ResultEvent, TextEvent, ThreadEvent
from ampsm_tui.engine.agents.preflight import check_agent
from ampsm_tui.engine.agents.process import LineSplitter, run_agent
from ampsm_tui.engine.agents.registry import get_adapter
from ampsm_tui.engine.errors import AmpsmError
from ampsm_tui.engine.models import IterationStatus
from tests.conftest import FAKES, git

FAKE_KEY = "fake-amp-key-VALUE-42abc"  # matches no redaction pattern: only its env value redacts it
FAKE_SECRET = "sk-ant-FAKEKEY0123456789abcdef"
SAMPLES = Path(__file__).parent / "fixtures" / "agent-samples"


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
    state = tmp_path / "fake-state"
    monkeypatch.setenv("FAKE_AGENT_STATE", str(state))
    monkeypatch.setenv("AMP_API_KEY", FAKE_KEY)
    for var in ("FAKE_AGENT_MODE", "FAKE_AGENT_LOG", "FAKE_AGENT_ERROR", "FAKE_AGENT_DELAY", "FAKE_AGENT_IGNORE_TERM"):
        monkeypatch.delenv(var, raising=False)
    return state


class Collector:
    def __init__(self) -> None:
        self.events: list[AgentEvent] = []

    async def __call__(self, event: AgentEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def live_processes_with(marker: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line mentions `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


async def test_amp_turn_streams_events_edits_files_and_records_usage(repo: Path, fakes: Path, tmp_path: Path) -> None:
    collect = Collector()
    log = tmp_path / "streams" / "0001.jsonl"
    result = await run_agent(get_adapter("amp"), "Create hello.txt", cwd=repo, raw_log_path=log, on_event=collect)
    assert result.status == IterationStatus.COMPLETED and result.exit_code == 0
    assert collect.kinds() == ["thread", "text", "tool_call", "usage", "tool_result", "text", "usage", "result"]
    assert result.thread_id is not None and result.thread_id.startswith("T-")
    assert isinstance(collect.events[0], ThreadEvent) and collect.events[0].thread_id == result.thread_id
    assert result.usage.total == result.total_tokens == 2700 + 65 + 500 + 11200
    assert (result.input_tokens, result.output_tokens) == (2700, 65)
    assert (result.cache_creation_tokens, result.cache_read_tokens) == (500, 11200)
    assert result.cost_usd == pytest.approx(0.01431)
    assert result.model == "amp"
    assert result.tool_calls == 1 and result.raw_lines == 0 and result.events == 8
    assert result.summary == "Created hello.txt containing hi."
    assert (repo / "hello.txt").read_text() == "hi\n"
    assert "hello.txt" in git(repo, "status", "--porcelain")
    assert result.first_byte_at is not None and result.first_byte_ms is not None and result.first_byte_ms >= 0
    lines = log.read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line)["type"] for line in lines)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    # the fake keeps its thread state outside the worktree
    assert not (repo / "fake-state").exists() and any(fakes.iterdir())


async def test_second_turn_continues_the_thread(
    repo: Path, fakes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv_log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_AGENT_LOG", str(argv_log))
    amp = get_adapter("amp")
    first = await run_agent(amp, "one", cwd=repo, model="high")
    second = await run_agent(amp, "two", cwd=repo, thread_id=first.thread_id, model="high")
    assert second.status == IterationStatus.COMPLETED and second.thread_id == first.thread_id
    calls = [json.loads(line) for line in argv_log.read_text().splitlines()]
    assert calls[1]["argv"][:3] == ["threads", "continue", first.thread_id]
    assert calls[1]["continued"] and calls[1]["turn"] == 2
    assert "-m" in calls[1]["argv"] and calls[1]["argv"][calls[1]["argv"].index("-m") + 1] == "high"
    assert (repo / "hello.txt").read_text() == "hi\nturn 2\n"


@pytest.mark.parametrize("ignore_term", [False, True])
async def test_timeout_kills_the_whole_process_group(
    repo: Path, fakes: Path, monkeypatch: pytest.MonkeyPatch, ignore_term: bool
) -> None:
    marker = f"hang-marker-{uuid.uuid4().hex}"
    monkeypatch.setenv("FAKE_AGENT_MARKER", marker)
    if ignore_term:  # the agent ignores SIGTERM: SIGKILL after the grace period must still end it
        monkeypatch.setenv("FAKE_AGENT_IGNORE_TERM", "1")
    started: list[int] = []

    async def on_start(pid: int) -> None:
        started.append(pid)

    result = await run_agent(
        get_adapter("amp"), f"[fake:hang] {marker}", cwd=repo, timeout=3, kill_grace_s=0.5, on_start=on_start
    )
    assert result.status == IterationStatus.TIMEOUT
    assert result.error is not None and "did not finish within 3s" in result.error
    assert started == [result.pid]
    assert live_processes_with(marker) == []


async def test_crash_mid_stream_keeps_the_events_received_before(repo: Path, fakes: Path, tmp_path: Path) -> None:
    collect = Collector()
    log = tmp_path / "crash.jsonl"
    result = await run_agent(get_adapter("amp"), "[fake:crash] go", cwd=repo, on_event=collect, raw_log_path=log)
    assert result.status == IterationStatus.INTERRUPTED
    assert result.signal == "SIGKILL" and result.exit_code == -9
    assert collect.kinds() == ["thread", "text", "tool_call", "usage"]
    assert result.input_tokens == 1200 and result.thread_id is not None
    assert len(log.read_text().splitlines()) == 2
    assert (repo / "hello.txt").exists()  # the work done before the crash is there to commit


async def test_ending_without_a_result_line_is_interrupted(repo: Path, tmp_path: Path) -> None:
    script = tmp_path / "fake-claude"
    script.write_text(
        "#!/bin/sh\n"
        'echo \'{"type":"system","subtype":"init","session_id":"S-1","model":"claude-sonnet-4-5"}\'\n'
        'echo \'{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"working"}]}}\'\n'
        "exit 0\n"
    )
    script.chmod(0o755)
    adapter = get_adapter("claude")
    adapter.binary = str(script)
    result = await run_agent(adapter, "x", cwd=repo)
    assert result.status == IterationStatus.INTERRUPTED and result.exit_code == 0
    assert result.thread_id == "S-1" and result.summary == "working"


async def test_garbage_partial_and_non_utf8_lines_are_kept_as_raw(repo: Path, fakes: Path, tmp_path: Path) -> None:
    collect = Collector()
    log = tmp_path / "garbage.jsonl"
    result = await run_agent(get_adapter("amp"), "[fake:garbage] go", cwd=repo, on_event=collect, raw_log_path=log)
    assert result.status == IterationStatus.COMPLETED
    raws = [e.text for e in collect.events if isinstance(e, RawEvent)]
    assert raws == [
        "this is not json {",
        "\ufffd\ufffd\ufffd not utf-8 \ufffd( bytes",
        '{"type": "mystery_event", "payload": "split across two writes"}',
        "[1, 2, 3]",
        "trailing noise without a newline at first",
    ]
    assert result.raw_lines == 5
    assert (result.input_tokens, result.output_tokens) == (2700, 65)
    assert any(isinstance(e, ResultEvent) and e.ok for e in collect.events)
    assert "mystery_event" in log.read_text()


async def test_secrets_never_reach_the_raw_log_events_or_result(repo: Path, fakes: Path, tmp_path: Path) -> None:
    collect = Collector()
    log = tmp_path / "secret.jsonl"
    result = await run_agent(get_adapter("amp"), "[fake:secret] go", cwd=repo, on_event=collect, raw_log_path=log)
    assert result.status == IterationStatus.COMPLETED
    everything = "\n".join([log.read_text(), result.model_dump_json(), *(e.model_dump_json() for e in collect.events)])
    assert FAKE_KEY not in everything and FAKE_SECRET not in everything
    assert "[REDACTED]" in log.read_text() and "[REDACTED]" in result.stderr_tail
    assert any(isinstance(e, TextEvent) and "[REDACTED]" in e.text for e in collect.events)


@pytest.mark.parametrize(
    ("kind", "auth", "transient"),
    [("", False, False), ("401", True, False), ("429", False, True), ("500", False, True)],
)
async def test_failing_agent_is_failed_and_classified(
    repo: Path, fakes: Path, monkeypatch: pytest.MonkeyPatch, kind: str, auth: bool, transient: bool
) -> None:
    monkeypatch.setenv("FAKE_AGENT_ERROR", kind)
    result = await run_agent(get_adapter("amp"), "[fake:fail] go", cwd=repo)
    assert result.status == IterationStatus.FAILED and result.exit_code == 1
    assert (result.auth, result.transient) == (auth, transient)
    assert result.error and (kind in result.error if kind else "gave up" in result.error)


async def test_missing_agent_binary_is_e002(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(AmpsmError) as info:
        await run_agent(get_adapter("amp"), "x", cwd=repo)
    assert info.value.code.value == "E002" and "npm install -g @ampcode/cli" in info.value.message


async def test_cancelling_the_turn_ends_the_process_group(
    repo: Path, fakes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = f"cancel-marker-{uuid.uuid4().hex}"
    monkeypatch.setenv("FAKE_AGENT_MARKER", marker)
    first = asyncio.Event()

    async def on_event(event: AgentEvent) -> None:
        if isinstance(event, ThreadEvent):
            first.set()

    task = asyncio.create_task(run_agent(get_adapter("amp"), f"[fake:hang] {marker}", cwd=repo, on_event=on_event))
    await asyncio.wait_for(first.wait(), 60)
    # the child is spawned right after the first line: wait until it is visible
    for _ in range(200):
        if len(live_processes_with(marker)) >= 2:
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert live_processes_with(marker) == []


async def test_command_agent_gets_the_prompt_and_costs_a_true_zero(repo: Path, tmp_path: Path) -> None:
    script = (
        "import os, sys, pathlib\n"
        "stdin = sys.stdin.read()\n"
        "p = pathlib.Path('app.py'); p.write_text(p.read_text().replace('add', 'plus'))\n"
        "print('env:', os.environ['AMPSM_PROMPT'])\n"
        "print('stdin:', stdin)\n"
    )
    (tmp_path / "codemod.py").write_text(script)
    adapter = get_adapter("command", f"{sys.executable} {tmp_path / 'codemod.py'}")
    collect = Collector()
    result = await run_agent(adapter, "rename add", cwd=repo, on_event=collect)
    assert result.status == IterationStatus.COMPLETED
    assert [e.text for e in collect.events if isinstance(e, TextEvent)] == ["env: rename add", "stdin: rename add"]
    assert result.total_tokens == 0 and result.cost_usd == 0.0 and result.model is None
    assert "def plus(a, b)" in (repo / "app.py").read_text()


async def test_command_agent_failure_is_failed(repo: Path) -> None:
    adapter = get_adapter("command", "sh -c 'echo broken >&2; exit 3'")
    result = await run_agent(adapter, "", cwd=repo)
    assert result.status == IterationStatus.FAILED and result.exit_code == 3
    assert result.error == "broken"


async def test_check_agent_amp(fakes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, version = await check_agent("amp")
    assert path == str(FAKES / "amp") and version is not None and "fake" in version
    assert get_adapter("amp").check() == {"agent": "amp", "path": path, "version": version, "auth": "AMP_API_KEY"}
    # no key anywhere and no `amp login` file: E002 with the fix
    monkeypatch.delenv("AMP_API_KEY")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr("ampsm_tui.engine.agents.amp.get_api_key", lambda name: None)
    with pytest.raises(AmpsmError) as info:
        await check_agent("amp")
    assert info.value.code.value == "E002" and "amp login" in info.value.message
    secrets_file = tmp_path / "data" / "amp" / "secrets.json"
    secrets_file.parent.mkdir(parents=True)
    secrets_file.write_text("{}")
    assert (await check_agent("amp"))[0] == path
    assert get_adapter("amp").check()["auth"] == "amp login"


async def test_check_agent_missing_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AmpsmError) as info:
        await check_agent("claude")
    assert info.value.code.value == "E002" and "claude" in info.value.message
    with pytest.raises(AmpsmError):
        await check_agent("command", "no-such-program-xyz --flag")


def test_stream_split_at_every_byte_gives_the_same_events() -> None:
    data = (SAMPLES / "claude_run1.jsonl").read_bytes() + b"\xff\xfe partial \xe2\x82"  # no final newline
    adapter = get_adapter("claude")

    def dump(event: AgentEvent) -> str:  # tool durations are wall-clock: not part of the comparison
        return event.model_dump_json(exclude={"duration_ms"})

    def parse(chunks: list[bytes]) -> list[str]:
        splitter, parser = LineSplitter(), adapter.new_parser()
        out: list[str] = []
        for chunk in chunks:
            for line in splitter.feed(chunk):
                out += [dump(e) for e in parser.feed_line(line)]
        for line in splitter.close():
            out += [dump(e) for e in parser.feed_line(line)]
        return out + [dump(e) for e in parser.finish()]

    whole = parse([data])
    assert any('"kind":"raw"' in e for e in whole) and any('"kind":"result"' in e for e in whole)
    for cut in range(1, len(data)):
        assert parse([data[:cut], data[cut:]]) == whole, cut
    assert parse([data[i : i + 7] for i in range(0, len(data), 7)]) == whole


def test_overlong_line_is_cut_not_buffered_forever() -> None:
    splitter = LineSplitter(max_line=100)
    assert splitter.feed(b"x" * 60) == []
    assert splitter.feed(b"x" * 60) == ["x" * 120]
    assert splitter.feed(b"tail\n") == ["tail"]


async def test_background_child_holding_stdout_does_not_turn_a_finished_turn_into_a_timeout(tmp_path: Path) -> None:
    """An agent that exits 0 but leaves `sleep &` holding its stdout completes; the child is killed."""
    marker = f"bgchild-{tmp_path.name}"
    adapter = get_adapter("command", f"sh -c '(sleep 300; echo {marker}) & echo done'")
    result = await run_agent(adapter, "p", cwd=tmp_path, timeout=20)
    assert result.status == "completed" and result.exit_code == 0
    assert live_processes_with(marker) == []  # (a process may vanish mid-scan: the helper allows it)


def _sleeper(marker: str) -> str:
    """A command agent whose shell forks a long sleeper (named by `marker`) that holds its pipes."""
    return f"sh -c '{sys.executable} -c \"import time; time.sleep(300)\" {marker}; true'"


async def _ends_and_leaves_nothing(task: asyncio.Task[object], marker: str) -> None:
    """The cancelled turn ends (bounded: a sleeper holding the pipes would keep it 300 s) and no
    process of its group is left."""
    try:
        done, _ = await asyncio.wait({task}, timeout=60)
        assert task in done, "the cancelled turn waited on its agent's pipes"
        with pytest.raises(asyncio.CancelledError):
            task.result()
        for _ in range(100):  # a SIGKILLed group is gone a moment later, not at once
            if not live_processes_with(marker):
                break
            await asyncio.sleep(0.05)
        assert live_processes_with(marker) == []
    finally:
        for pid in live_processes_with(marker):  # never leave the sleeper behind, even when failing
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        task.cancel()


async def test_a_cancel_while_the_agent_is_being_spawned_ends_its_group(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop that lands after the fork but before the pipes are connected (a batch stopped just as
    an item's agent starts): asyncio would kill the leader only, then wait on pipes the sleeper holds."""
    marker = f"spawn-marker-{uuid.uuid4().hex}"
    real_spawn = asyncio.create_subprocess_exec
    target: list[asyncio.Task[object]] = []

    async def spawn_then_stop(*args: object, **kwargs: object) -> asyncio.subprocess.Process:
        # runs right after the (synchronous) fork, before the pipes are connected
        asyncio.get_running_loop().call_soon(target[0].cancel)
        return await real_spawn(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spawn_then_stop)
    task: asyncio.Task[object] = asyncio.create_task(run_agent(get_adapter("command", _sleeper(marker)), "", cwd=repo))
    target.append(task)
    await _ends_and_leaves_nothing(task, marker)


async def test_a_cancel_while_the_start_is_recorded_ends_the_agents_group(repo: Path) -> None:
    """A stop that lands in `on_start` (the runner writing the agent's pid, behind other writes)."""
    marker = f"onstart-marker-{uuid.uuid4().hex}"
    task: asyncio.Task[object]

    async def on_start(pid: int) -> None:
        task.cancel()
        await asyncio.sleep(0)  # the cancel lands here, inside the callback

    task = asyncio.create_task(run_agent(get_adapter("command", _sleeper(marker)), "", cwd=repo, on_start=on_start))
    await _ends_and_leaves_nothing(task, marker)
