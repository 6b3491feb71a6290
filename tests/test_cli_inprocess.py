"""The in-process `run_cli` is a faithful stand-in for the real process: same exit status, same
stdout, same stderr, for successes, usage errors and coded failures (the suite relies on it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

CASES = [
    ("--version",),
    ("list", "--json"),
    ("list",),
    ("list", "--status", "bogus"),
    ("status", "sess-nope", "--json"),
    ("new", "--repo", "{tmp}/missing", "--name", "x", "--prompt", "y", "--json"),
    ("db",),
    ("frobnicate",),
]


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c) for c in CASES])
def test_in_process_matches_the_real_process(args: tuple[str, ...], tmp_path: Path) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    real = run_cli(*argv, process=True)
    inside = run_cli(*argv)
    assert (inside.returncode, inside.stdout, inside.stderr) == (real.returncode, real.stdout, real.stderr)


def test_in_process_sees_the_given_environment_cwd_and_stdin(repo: Path, isolated_env: Path) -> None:
    """A prompt from stdin, a repo given as the working directory, the DB from the environment."""
    db = isolated_env / "elsewhere.db"
    out = run_cli(
        "new", "--name", "from-stdin", "--prompt-file", "-", "--json", env={"AMPSM_DB_PATH": str(db)}, cwd=repo,
        input="the prompt",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert db.exists()
    shown = run_cli("list", "--json", env={"AMPSM_DB_PATH": str(db)})
    assert '"from-stdin"' in shown.stdout
    assert "from-stdin" not in run_cli("list", "--json").stdout  # the override ended with the call
