"""Health checks for `ampsm doctor`: each says what is wrong and what to do about it."""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass

from .agents.registry import AGENT_NAMES
from .config import Config
from .procgroup import stop_process

MIN_GIT = (2, 38)
#: Agents that are programs of their own (`command` runs the user's command): the adapter registry's.
AGENT_BINARIES = tuple(name for name in AGENT_NAMES if name != "command")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


class _Probe:
    """What `BINARY --version` said: the version read from stdout, or why there is none."""

    def __init__(self, version: str | None = None, problem: str | None = None) -> None:
        self.version = version
        self.problem = problem


#: How long `doctor` waits for a `--version` (the agents are asked side by side): a Node or Python
#: CLI can take several seconds to start on a loaded machine, a hung one is reported after this.
PROBE_TIMEOUT_S = 15.0


async def _version(binary: str, *args: str, timeout: float | None = None) -> _Probe | None:
    """None when `binary` is not on PATH. A version is read from stdout only (Codex prints warnings
    on stderr first); no answer within `timeout`, or a non-zero exit, is a problem, never "ok"."""
    timeout = PROBE_TIMEOUT_S if timeout is None else timeout
    from .agents.base import strip_ansi
    from .agents.preflight import parse_version

    path = shutil.which(binary)
    if not path:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            path,
            *(args or ("--version",)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return _Probe(problem=f"unrunnable ({exc})")
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        await stop_process(proc, 0)  # the whole group: a wrapper script's children too
        return _Probe(problem=f"no answer to --version within {timeout:g}s")
    text = strip_ansi(out.decode("utf-8", "replace")).strip()
    if proc.returncode != 0:
        tail = strip_ansi((text + "\n" + err.decode("utf-8", "replace")).strip()).splitlines()
        return _Probe(problem=f"--version failed (exit {proc.returncode}){': ' + tail[-1][:80] if tail else ''}")
    version = parse_version(text)
    if version is None:
        first = text.splitlines()[0][:80] if text else "(no version printed)"
        return _Probe(version=first)
    return _Probe(version=version)


def parse_git_version(text: str) -> tuple[int, ...] | None:
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(x) for x in m.groups() if x is not None) if m else None


async def check_git() -> Check:
    probe = await _version("git")
    if probe is None:
        return Check("git", False, "git not found on PATH", "Install git >= 2.38.")
    out = probe.version or probe.problem or ""
    version = parse_git_version(out) if probe.version else None
    if version is None or version[:2] < MIN_GIT:
        return Check(
            "git", False, f"{out} is too old" if probe.version else out, "Install git >= 2.38 (worktree features)."
        )
    return Check("git", True, f"git version {out}")


async def check_agents(*, allow_all: bool = True) -> list[Check]:
    """Each agent CLI's version; `allow_all` is `amp.dangerously_allow_all` (approvals bypassed),
    under which Claude Code refuses to run as root."""
    from .agents.claude import root_refusal

    probes = await asyncio.gather(*(_version(b) for b in AGENT_BINARIES))
    checks = []
    for binary, probe in zip(AGENT_BINARIES, probes, strict=True):
        name = f"agent {binary}"
        if probe is None:
            fix = "npm install -g @ampcode/cli && amp login" if binary == "amp" else f"install `{binary}` if you use it"
            checks.append(Check(name, False, "not on PATH", fix, required=False))
        elif probe.problem:
            checks.append(
                Check(name, False, probe.problem, f"reinstall `{binary}`, or check that it runs", required=False)
            )
        elif binary == "claude" and (why := root_refusal(allow_all)):
            fix = why.split("; ", 1)[1] if "; " in why else why
            checks.append(Check(name, False, f"{probe.version}; refuses to run as root", fix, required=False))
        else:
            checks.append(Check(name, True, probe.version or "", required=False))
    return checks


def check_config(cfg: Config | None, error: str | None) -> Check:
    if error:
        return Check("config", False, error, "Fix the named key, or move the file away to use defaults.")
    assert cfg is not None
    where = str(cfg.source) if cfg.source else f"defaults (no {cfg.config_dir / 'config.yaml'})"
    return Check("config", True, where)


async def check_database(cfg: Config) -> Check:
    from .errors import AmpsmError
    from .store import LATEST, Store

    store = Store.from_config(cfg)
    try:
        await store.open()
        version = await store.schema_version()
        _, quick = await store.quick_only()
    except AmpsmError as exc:
        return Check("database", False, exc.message, "Run `ampsm db check`; restore a backup if corrupt.")
    except OSError as exc:
        return Check("database", False, f"{cfg.db_path}: {exc}", "Check the path and its permissions.")
    finally:
        await store.close()
    if quick != ["ok"]:
        return Check("database", False, f"{cfg.db_path}: {quick[0]}", "Run `ampsm db check` (E003).")
    return Check("database", True, f"{cfg.db_path} (schema {version}/{LATEST})")
