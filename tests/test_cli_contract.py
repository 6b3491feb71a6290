"""One CLI contract, checked over every registered command (walking `commands.registry`):

- with `--json`, exactly one JSON document on stdout (JSON Lines where `--stream` says so);
- on failure, that document is an object with `code` and `message`, and stderr still has the
  one-line `E00N: message` (or `error: message` for a usage error, exit 2);
- invalid choices are usage errors (exit 2).

The CLI runs in-process (`cli.main`): what is checked is the output contract, which a subprocess
would only make slower. A new command must be added to the tables below (the first test says so).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ampsm_tui import cli
from ampsm_tui.commands import load_all
from ampsm_tui.commands.registry import COMMANDS

load_all()

JSON_COMMANDS = sorted(" ".join(path) for path, cmd in COMMANDS.items() if cmd.json)
PLAIN_COMMANDS = sorted(" ".join(path) for path, cmd in COMMANDS.items() if not cmd.json)

Argv = Callable[["World"], list[str]]


class World:
    """A repo with one session (made through the CLI), paths that do not exist, and a way to
    break the database."""

    def __init__(self, tmp: Path, repo: Path, cfg: Path) -> None:
        self.tmp = tmp
        self.repo = repo
        self.cfg = cfg
        self.missing = str(tmp / "missing")
        self.session = ""

    def corrupt_db(self) -> None:
        (self.cfg / "sessions.db").write_bytes(b"this is not a database" * 100)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def one_document(out: str) -> Any:
    """The whole of stdout is one JSON value (json.loads fails on two documents)."""
    assert out.strip(), "nothing on stdout"
    return json.loads(out)


# Every --json command, made to fail: (argv, needs a broken DB, expected code)
FAILING: dict[str, tuple[Argv, bool, str]] = {
    "abort": (lambda w: ["abort", "sess-nope"], False, "usage"),
    "archive": (lambda w: ["archive", "sess-nope", "--yes"], False, "usage"),
    "batch abort": (lambda w: ["batch", "abort", "batch-nope"], False, "usage"),
    "batch export": (lambda w: ["batch", "export", "batch-nope", "--out", str(w.tmp / "out.jsonl")], False, "usage"),
    "batch list": (lambda w: ["batch", "list"], True, "E003"),
    "batch resume": (lambda w: ["batch", "resume", "batch-nope"], False, "usage"),
    "batch start": (lambda w: ["batch", "start", "--file", w.missing], False, "usage"),
    "batch status": (lambda w: ["batch", "status", "batch-nope"], False, "usage"),
    "bench custom": (lambda w: ["bench", "custom", "--config", w.missing], False, "usage"),
    "bench env build": (lambda w: ["bench", "env", "build", "--dataset", w.missing], False, "usage"),
    "bench env list": (lambda w: ["bench", "env", "list", "--no-such-flag"], False, "usage"),
    "bench env prune": (lambda w: ["bench", "env", "prune", "--older-than", "soon"], False, "usage"),
    "bench list": (lambda w: ["bench", "list"], True, "E003"),
    "bench report": (lambda w: ["bench", "report", "no-such-run"], False, "usage"),
    "bench start": (lambda w: ["bench", "start", "--dataset", w.missing], False, "usage"),
    "cancel": (lambda w: ["cancel", "sess-nope"], False, "usage"),
    "clean-environment": (lambda w: ["clean-environment", "--repo", w.missing], False, "E001"),
    "config show": (lambda w: ["config", "show"], False, "config"),
    "db backup": (lambda w: ["db", "backup"], True, "E003"),
    "db check": (lambda w: ["db", "check"], True, "E003"),
    "db restore": (lambda w: ["db", "restore", w.missing], False, "E003"),
    "demo": (lambda w: ["demo", "--dir", str(w.repo / "README.md"), "--headless"], False, "usage"),
    "doctor": (lambda w: ["doctor"], False, "doctor"),  # a broken config: its report, with code and message
    "export": (lambda w: ["export", "--format", "jsonl", "--out", str(w.tmp / "x.jsonl")], True, "E003"),
    "gc": (lambda w: ["gc", "--older-than", "soon"], False, "usage"),
    "iterate": (lambda w: ["iterate", "sess-nope"], False, "usage"),
    "land": (lambda w: ["land", "sess-nope"], False, "usage"),
    "list": (lambda w: ["list"], True, "E003"),
    "merge": (lambda w: ["merge", "sess-nope"], False, "usage"),
    "metrics": (lambda w: ["metrics", "sess-nope"], False, "usage"),
    "new": (
        lambda w: ["new", "--repo", w.missing, "--name", "x", "--agent", "command", "--agent-cmd", "true"],
        False,
        "E001",
    ),
    "queue add": (lambda w: ["queue", "add", "sess-nope"], False, "usage"),
    "queue run": (lambda w: ["queue", "run"], True, "E003"),
    "queue status": (lambda w: ["queue", "status"], True, "E003"),
    "rebase": (lambda w: ["rebase", "sess-nope"], False, "usage"),
    "restore": (lambda w: ["restore", "sess-nope"], False, "usage"),
    "squash": (lambda w: ["squash", "sess-nope"], False, "usage"),
    "status": (lambda w: ["status", "sess-nope"], False, "usage"),
    "telemetry prune": (lambda w: ["telemetry", "prune"], True, "E003"),
    "test-git": (lambda w: ["test-git", "--repo", w.missing], False, "E001"),
    "usage": (lambda w: ["usage"], True, "E003"),
    "verify-amp": (lambda w: ["verify-amp"], False, "E002"),
}

# Every --json command that succeeds cheaply here; the others' success is covered where named.
SUCCEEDING: dict[str, Argv] = {
    "abort": lambda w: ["abort", w.session],  # nothing to abort: exit 1, still its one document
    "batch list": lambda w: ["batch", "list"],
    "bench env list": lambda w: ["bench", "env", "list", "--envs-dir", str(w.tmp / "envs")],
    "bench env prune": lambda w: ["bench", "env", "prune", "--envs-dir", str(w.tmp / "envs")],
    "bench list": lambda w: ["bench", "list"],
    "cancel": lambda w: ["cancel", w.session],  # nothing running: exit 1, still its one document
    "clean-environment": lambda w: ["clean-environment", "--repo", str(w.repo), "--dry-run"],
    "config show": lambda w: ["config", "show"],
    "db backup": lambda w: ["db", "backup", "--list"],
    "db check": lambda w: ["db", "check"],
    "export": lambda w: ["export", "--format", "jsonl", "--out", str(w.tmp / "x.jsonl")],
    "gc": lambda w: ["gc", "--repo", str(w.repo)],
    "iterate": lambda w: ["iterate", w.session],
    "land": lambda w: ["land", w.session, "--keep-worktree"],
    "list": lambda w: ["list"],
    "metrics": lambda w: ["metrics", w.session],
    "new": lambda w: ["new", "--repo", str(w.repo), "--name", "two", "--agent", "command", "--agent-cmd", "true"],
    "queue run": lambda w: ["queue", "run"],  # an empty queue: nothing to land
    "queue status": lambda w: ["queue", "status"],
    "status": lambda w: ["status", w.session],
    "squash": lambda w: ["squash", w.session],
    "rebase": lambda w: ["rebase", w.session],
    "telemetry prune": lambda w: ["telemetry", "prune"],
    "usage": lambda w: ["usage"],
}
ELSEWHERE = {
    "archive": "tests/test_session_commands.py",
    "batch abort": "tests/test_batch_acceptance.py",
    "batch export": "tests/test_batch_cli.py",
    "batch resume": "tests/test_batch_acceptance.py",
    "batch start": "tests/test_batch_cli.py",
    "batch status": "tests/test_batch_cli.py",
    "bench custom": "tests/test_bench_agents.py",
    "bench env build": "tests/test_bench_real.py",
    "bench report": "tests/test_bench_formats.py",
    "bench start": "tests/test_bench_agents.py",
    "db restore": "tests/test_backup.py",
    "demo": "tests/test_demo.py",
    "doctor": "tests/test_cli_frame.py",
    "merge": "tests/test_land_cli.py (land merges)",
    "queue add": "tests/test_merge_queue.py",
    "restore": "tests/test_safekeep.py",
    "test-git": "tests/test_git_cleanup.py",
    "verify-amp": "tests/test_session_commands.py",
}


@pytest.fixture
def world(tmp_path: Path, repo: Path, isolated_env: Path, capsys: pytest.CaptureFixture[str]) -> World:
    w = World(tmp_path, repo, isolated_env)
    code, out, err = run(
        ["new", "--repo", str(repo), "--name", "contract", "--json", "--agent", "command", "--agent-cmd", "echo hi"],
        capsys,
    )
    assert code == 0, err
    w.session = one_document(out)["id"]
    return w


def test_every_json_command_is_in_the_tables() -> None:
    assert sorted(FAILING) == JSON_COMMANDS
    assert sorted([*SUCCEEDING, *ELSEWHERE]) == JSON_COMMANDS
    assert not set(SUCCEEDING) & set(ELSEWHERE)
    assert PLAIN_COMMANDS == ["completion", "config init", "diff", "interactive"]  # no data output


@pytest.mark.parametrize("name", JSON_COMMANDS)
def test_failure_is_one_json_object_with_code_and_message(
    name: str, world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv, broken_db, expected = FAILING[name]
    if broken_db:
        world.corrupt_db()
    if expected in ("config", "doctor"):
        (world.cfg / "config.yaml").write_text("git: [this is not a mapping\n")
    if name == "verify-amp":
        monkeypatch.setenv("PATH", str(world.tmp / "empty-path"))
        monkeypatch.delenv("AMPSM_AMP_BIN", raising=False)
    code, out, err = run([*argv(world), "--json"], capsys)
    assert code != 0, (out, err)
    doc = one_document(out)
    assert isinstance(doc, dict) and {"code", "message"} <= set(doc), doc
    assert doc["code"] == expected, (doc, err)
    first = err.strip().splitlines()[0]
    if expected.startswith("E"):
        assert first.startswith(f"{expected}: "), err
        assert code == 10 + int(expected[1:])
    else:
        assert first.startswith(("error: ", "usage: ")), err


@pytest.mark.parametrize("name", sorted(SUCCEEDING))
def test_success_is_exactly_one_json_document(name: str, world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*SUCCEEDING[name](world), "--json"], capsys)
    assert code == (1 if name in ("abort", "cancel") else 0), (out, err)
    one_document(out)


def test_new_run_json_is_one_document_and_stream_is_json_lines(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    new = ["new", "--repo", str(world.repo), "--agent", "command", "--agent-cmd", "echo x > x.txt", "--json"]
    code, out, err = run([*new, "--name", "run", "--run"], capsys)
    assert code == 0, err
    doc = one_document(out)
    assert doc["id"].startswith("sess-") and doc["iteration"]["status"] == "completed"

    code, out, err = run([*new, "--name", "streamed", "--run", "--stream", "--script", "false"], capsys)
    assert code == 16, err  # E006: the test script failed
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["topic"] == "session.status" or "topic" in lines[0]
    assert lines[-1]["code"] == "E006" and "topic" not in lines[-1]  # the failure is the last line
    assert all("topic" in line for line in lines[:-1])


def test_an_invalid_choice_is_a_usage_error(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    from ampsm_tui.engine.models import SessionStatus

    code, out, err = run(["list", "--status", "bogus"], capsys)
    assert code == 2 and "invalid choice" in err and out == ""
    code, out, err = run(["list", "--status", "bogus", "--json"], capsys)
    assert code == 2 and one_document(out)["code"] == "usage"
    status = next(a for a in COMMANDS[("list",)].args if a.name == "--status")
    assert tuple(status.kwargs["choices"]) == tuple(s.value for s in SessionStatus)


def test_the_contract_holds_in_a_real_process(world: World) -> None:
    """The same rule through the installed entry point (stdout and stderr are real pipes)."""
    from tests.conftest import run_cli

    out = run_cli("status", "sess-nope", "--json", env={"PATH": os.environ["PATH"]})
    assert out.returncode == 2
    assert json.loads(out.stdout)["code"] == "usage" and out.stderr.startswith("error: ")


def test_agent_names_are_the_adapter_registrys() -> None:
    """One list of agents: `--agent`, the doctor's checks and the TUI's form all read the registry."""
    from ampsm_tui.engine import doctor
    from ampsm_tui.engine.agents.registry import ADAPTERS, AGENT_NAMES
    from ampsm_tui.screens import new_session

    agent = next(a for a in COMMANDS[("new",)].args if a.name == "--agent")
    assert tuple(agent.kwargs["choices"]) == AGENT_NAMES == tuple(ADAPTERS)
    assert new_session.AGENTS is AGENT_NAMES
    assert tuple(n for n in AGENT_NAMES if n != "command") == doctor.AGENT_BINARIES
