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


async def _version(binary: str, *args: str, timeout: float = 5.0) -> str | None:
    path = shutil.which(binary)
    if not path:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(
            path,
            *(args or ("--version",)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return f"unrunnable ({exc})"
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        await stop_process(proc, 0)  # the whole group: a wrapper script's children too
        return "no answer to --version"
    text = out.decode("utf-8", "replace").strip().splitlines()
    return text[0][:80] if text else "(no version printed)"


def parse_git_version(text: str) -> tuple[int, ...] | None:
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(x) for x in m.groups() if x is not None) if m else None


async def check_git() -> Check:
    out = await _version("git")
    if out is None:
        return Check("git", False, "git not found on PATH", "Install git >= 2.38.")
    version = parse_git_version(out)
    if version is None or version[:2] < MIN_GIT:
        return Check("git", False, f"{out} is too old", "Install git >= 2.38 (worktree features).")
    return Check("git", True, out)


async def check_agents() -> list[Check]:
    versions = await asyncio.gather(*(_version(b) for b in AGENT_BINARIES))
    checks = []
    for binary, version in zip(AGENT_BINARIES, versions, strict=True):
        if version is None:
            fix = "npm install -g @ampcode/cli && amp login" if binary == "amp" else f"install `{binary}` if you use it"
            checks.append(Check(f"agent {binary}", False, "not on PATH", fix, required=False))
        else:
            checks.append(Check(f"agent {binary}", True, version, required=False))
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
