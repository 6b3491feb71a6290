"""Shell completion: scripts from the registry; session and batch ids from the database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

BIN = Path(sys.executable).parent


def complete(words: list[str], env: dict[str, str]) -> list[str]:
    """Run the real bash completion function for `ampsm <words>` (the last word is being typed)."""
    script = run_cli("completion", "bash", env=env)
    assert script.returncode == 0, script.stderr
    words_q = " ".join(f"'{w}'" for w in ["ampsm", *words])
    code = (
        f'{script.stdout}\nCOMP_WORDS=({words_q}); COMP_CWORD={len(words)}; _ampsm; printf "%s\\n" "${{COMPREPLY[@]}}"'
    )
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return [line for line in out.stdout.splitlines() if line]


@pytest.fixture
def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def make_sessions(repo: Path) -> list[str]:
    ids = []
    for name in ("alpha", "beta"):
        out = run_cli("new", "--repo", str(repo), "--name", name, "--agent", "command", "--agent-cmd", "true", "--json")
        assert out.returncode == 0, out.stderr
        ids.append(json.loads(out.stdout)["id"])
    return ids


def make_batch(repo: Path, tmp_path: Path) -> str:
    from ampsm_tui.engine.batch import load_batch
    from ampsm_tui.engine.config import load_config
    from ampsm_tui.engine.scheduler import create_batch
    from ampsm_tui.engine.store import Store

    f = tmp_path / "b.yaml"
    f.write_text(
        f"name: nightly\nrepos:\n  - path: {repo}\nitems:\n  - name: one\n    prompt: p\n    agent: command\n    agentCmd: 'true'\n"
    )

    async def go() -> str:
        store = Store.from_config(load_config())
        await store.open()
        try:
            return (await create_batch(store, load_batch(f), 1)).id
        finally:
            await store.close()

    return asyncio.run(go())


def test_bash_completes_commands_subcommands_flags_and_choices(env: dict[str, str]) -> None:
    assert set(complete(["d"], env)) == {"db", "demo", "diff", "doctor"}
    assert set(complete(["db", ""], env)) == {"backup", "check", "restore"}
    assert "--notify-webhook" in complete(["new", "--no"], env)
    assert set(complete(["new", "--agent", ""], env)) == {"amp", "claude", "codex", "gemini", "aider", "command"}
    assert set(complete(["completion", ""], env)) == set()  # a choice positional: argparse lists them in --help
    assert "--json" in complete(["db", "backup", "--"], env)


def test_ids_complete_from_the_database(env: dict[str, str], repo: Path, tmp_path: Path) -> None:
    assert complete(["iterate", ""], env) == []  # no DB yet: nothing, and nothing created
    sessions = make_sessions(repo)
    batch = make_batch(repo, tmp_path)
    assert set(complete(["iterate", ""], env)) == set(sessions)
    assert complete(["merge", sessions[1][:9]], env) == [sessions[1]] or sessions[0][:9] == sessions[1][:9]
    assert complete(["batch", "status", ""], env) == [batch]
    # archived sessions are not offered
    assert run_cli("archive", sessions[0], "--yes").returncode == 0
    assert complete(["diff", ""], env) == [sessions[1]]
    described = run_cli("__complete", "sessions", "--describe")
    assert described.stdout == f"{sessions[1]}\tbeta\n"


def test_complete_never_creates_a_database(isolated_env: Path) -> None:
    out = run_cli("__complete", "sessions")
    assert out.returncode == 0 and out.stdout == ""
    assert not (isolated_env / "sessions.db").exists()
    assert run_cli("__complete", "nonsense").returncode == 2


def test_zsh_and_fish_scripts_cover_every_command() -> None:
    from ampsm_tui.commands.completion import fish_script, specs, zsh_script

    all_specs = specs()
    zsh, fish = zsh_script(all_specs), fish_script(all_specs)
    assert "bashcompinit" in zsh and "complete -o default -F _ampsm ampsm" in zsh
    for s in all_specs:
        assert f"-a {s.path[-1]} " in fish
    assert "(ampsm __complete sessions --describe)" in fish and "(ampsm __complete batches --describe)" in fish
    assert "-l notify-webhook -r" in fish
