"""Shared fixtures: every test gets its own config dir, DB and HOME; real git repos in tmp dirs."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAKES = Path(__file__).resolve().parent / "fakes"


def pytest_configure(config: pytest.Config) -> None:
    """Bytecode on for this process, written to a cache beside the venv; read from there, never
    written, by every process the tests start.

    These machines set PYTHONDONTWRITEBYTECODE=1, so each of the suite's `python -m ampsm_tui`
    processes would compile every module it imports again: a third of its start-up. This process
    imports those modules first and caches them; the processes read the cache. They never write
    to it: a test that rewrites a module within the same second at the same size (`a - b` → `a + b`)
    must not have its test script run the bytecode of the first version (a pyc is checked against
    its source by size and mtime in whole seconds).
    """
    prefix = os.environ.get("PYTHONPYCACHEPREFIX") or str(Path(sys.prefix) / "pycache")
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.pycache_prefix = prefix
    sys.dont_write_bytecode = False


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    cfg = tmp_path / "ampsm-home"
    cfg.mkdir()
    monkeypatch.setenv("AMPSM_CONFIG_DIR", str(cfg))
    monkeypatch.delenv("AMPSM_DB_PATH", raising=False)
    monkeypatch.delenv("AMPSM_LOG_LEVEL", raising=False)
    monkeypatch.delenv("AMPSM_DISABLE_TELEMETRY", raising=False)
    # CI runs as root, where Claude Code needs this to bypass approvals (the claude adapter checks it)
    monkeypatch.setenv("IS_SANDBOX", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (tmp_path / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
    yield cfg


def db_rows(cfg: Path, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
    """Rows of the test's DB (`cfg` is its config dir), read with plain sqlite3 as a user would."""
    conn = sqlite3.connect(cfg / "sessions.db")
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real repository on `main` with one commit and a passing test script."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# demo\n")
    (path / "app.py").write_text("def add(a, b):\n    return a + b\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    timeout: float = 120,
    process: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `ampsm` with these arguments: in this process by default, in a real one with `process=True`.

    A subprocess proves something only where the process itself is the subject (import hygiene,
    signals, a second process racing this one, the interpreter's exit); for the rest it costs
    half a second of start-up per call. In-process runs go through the same `cli.main` with the
    same environment, working directory, stdin and exit status as the real command.
    """
    if process:
        return subprocess.run(
            [sys.executable, "-m", "ampsm_tui", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            input=input,
            timeout=timeout,
        )
    return _run_in_process(list(args), env=env, cwd=cwd, input=input)


def _run_in_process(
    args: list[str], *, env: dict[str, str] | None, cwd: Path | None, input: str | None
) -> subprocess.CompletedProcess[str]:
    import asyncio
    import io
    import logging
    import threading
    import traceback

    from ampsm_tui import cli
    from ampsm_tui.engine import logs

    def stream(data: bytes = b"") -> io.TextIOWrapper:
        return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace", write_through=True)

    out, err = stream(), stream()
    result: dict[str, int] = {}

    def target() -> None:
        try:
            result["code"] = cli.main(args)
        except SystemExit as exc:  # argparse's usage errors and --help, as the interpreter reports them
            if exc.code is None or isinstance(exc.code, int):
                result["code"] = exc.code or 0
            else:
                err.write(f"{exc.code}\n")
                result["code"] = 1
        except BaseException:  # an escaped exception: the interpreter's traceback and status 1
            traceback.print_exc(file=err)
            result["code"] = 1

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    logger = logging.getLogger("ampsm_tui")
    saved_handlers, saved_propagate = list(logger.handlers), logger.propagate
    try:
        os.environ.update(env or {})
        if cwd is not None:
            os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = stream((input or "").encode()), out, err
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            target()
        else:  # called from an async test: the command gets its own loop, on its own thread
            worker = threading.Thread(target=target)
            worker.start()
            worker.join()
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for handler in list(logger.handlers):
            if handler not in saved_handlers:
                logger.removeHandler(handler)
                handler.close()
        logger.propagate = saved_propagate
        logs._configured = None
    return subprocess.CompletedProcess(
        ["ampsm", *args],
        result.get("code", 1),
        _text(out),
        _text(err),
    )


def _text(stream: Any) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8", "replace").replace("\r\n", "\n")
