"""Is an agent usable? Checked without running a turn (lesson 8): binary, version, key or login.

`--version` is asked once per binary (cached by path, size and mtime, in memory and on disk under
the config folder), so `iterate` does not start a node process to ask it every time; the check
is synchronous because it is quick and runs before any subprocess of the turn exists.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from .. import diskcache
from ..errors import AmpsmError, ErrorCode
from ..procgroup import kill_popen
from ..secrets import redact
from .base import strip_ansi

if TYPE_CHECKING:
    from .base import AgentAdapter

#: A hung binary is refused after this; a heavy one (Aider imports a few hundred modules) can take
#: well over 15 s on a loaded machine the first time. The answer is cached on disk per install.
VERSION_TIMEOUT_S = 45.0
VERSIONS_CACHE = "agent-versions.json"
_versions: dict[tuple[str, float], str] = {}


def resolve_binary(
    binary: str, adapter: AgentAdapter, *, path: str | None = None, cwd: Path | str | None = None
) -> str:
    """The executable's full path: searched on PATH, or taken as a path (relative to `cwd`)."""
    if os.sep in binary:
        candidate = binary if os.path.isabs(binary) else os.path.join(str(cwd or os.getcwd()), binary)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    else:
        found = shutil.which(binary, path=path if path is not None else os.environ.get("PATH"))
        if found:
            return found
    hint = f" ({adapter.install_hint})" if adapter.install_hint else ""
    raise AmpsmError(ErrorCode.AGENT, f"{adapter.name}: `{binary}` not found on PATH{hint}")


_VERSION = re.compile(r"(?<![\w.])v?(\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z][0-9A-Za-z.-]*)?)")


def parse_version(stdout: str) -> str | None:
    """The first version number in what `--version` printed on stdout (`codex-cli 0.171.0`,
    `2.1.332 (Claude Code)`). Warnings go to stderr and are never taken for the version."""
    m = _VERSION.search(stdout)
    return m.group(1) if m else None


def binary_version(path: str) -> str:
    """The version `PATH --version` prints on stdout; E002 when it fails or hangs (a probe that does
    not answer is a failure, and its process group is killed)."""
    try:
        st = os.stat(path)
        key = (path, st.st_mtime + st.st_size / 1e12)  # a reinstall changes one or the other
    except OSError:
        key = (path, 0.0)
    if key in _versions:
        return _versions[key]
    disk_key = f"{key[0]}|{key[1]!r}"
    known = diskcache.read(VERSIONS_CACHE).get(disk_key) if key[1] else None
    if isinstance(known, str):
        _versions[key] = known
        return known
    try:
        proc = subprocess.Popen(
            [path, "--version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise AmpsmError(ErrorCode.AGENT, f"cannot run `{path} --version`: {exc}") from None
    try:
        out, err = proc.communicate(timeout=VERSION_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        kill_popen(proc)
        raise AmpsmError(ErrorCode.AGENT, f"`{path} --version` did not answer within {VERSION_TIMEOUT_S:g}s") from None
    text = strip_ansi(redact(out.decode("utf-8", "replace"))).strip()
    if proc.returncode != 0:
        both = (text + "\n" + strip_ansi(redact(err.decode("utf-8", "replace")))).strip()
        last = both.splitlines()[-1] if both else ""
        raise AmpsmError(ErrorCode.AGENT, f"`{path} --version` failed (exit {proc.returncode}): {last}")
    version = parse_version(text) or (text.splitlines() or ["(no version printed)"])[0][:120]
    _versions[key] = version
    if key[1]:
        diskcache.remember(VERSIONS_CACHE, disk_key, version, keep=64)  # old binaries of upgraded agents go
    return version


def check_adapter(adapter: AgentAdapter) -> dict[str, str | None]:
    path = resolve_binary(adapter.binary, adapter)
    return {"agent": adapter.name, "path": path, "version": binary_version(path)}


async def check_agent(name: str, agent_cmd: str | None = None) -> tuple[str, str | None]:
    """`(path, version)` of an agent, or E002 with the fix (async wrapper of `adapter.check()`)."""
    from .registry import get_adapter

    info = await asyncio.to_thread(get_adapter(name, agent_cmd).check)
    return str(info["path"]), info.get("version")
