"""Worktrees that are ready to run: `.worktreeinclude`, setup/teardown scripts, per-session env.

- `.worktreeinclude` (gitignore syntax, the file Claude Code, Codex, Conductor and ccmanager read):
  the files it matches that git ignores in the main checkout (.env, local configs) are copied into
  each new worktree; an entry larger than `workspace.link_threshold_mb` (a `node_modules/`) is
  symlinked instead of copied.
- A setup script (`workspace.setup`, a batch item's `setup:`, else an executable `.ampsm/setup`) runs
  once in each new worktree; its output is kept in `<config>/streams/<session>/setup.log`. A failure
  marks the session `error` (the caller does that) and is never ignored. A teardown script
  (`workspace.teardown` or `.ampsm/teardown`) runs before the worktree is removed.
- Every command ampsm runs for a session (agent, setup, test script, teardown) gets
  `AMPSM_SESSION_ID`, `AMPSM_WORKTREE` and its own block of ports: `AMPSM_PORT` (the first),
  `AMPSM_PORT_1` … `AMPSM_PORT_<n-1>` (the next ones) and `AMPSM_PORTS` (`first-last`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Config
from .errors import AmpsmError, ErrorCode
from .git.runner import git, split_z
from .models import Session
from .testgate import run_script

if TYPE_CHECKING:
    from .sessions import SessionService
    from .store import Store

SETUP_LOG = "setup.log"
TEARDOWN_LOG = "teardown.log"


@dataclass
class IncludeReport:
    copied: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HookResult:
    kind: str  # "setup" | "teardown"
    command: str
    exit_code: int | None  # None: timed out
    log_path: Path

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def parse_port_range(text: str) -> tuple[int, int]:
    """`41000-41999` -> (41000, 41999)."""
    low_s, sep, high_s = text.partition("-")
    try:
        low, high = int(low_s), int(high_s if sep else low_s)
    except ValueError:
        raise ValueError(f"expected a port range like 41000-41999, not {text!r}") from None
    if not (1 <= low <= high <= 65535):
        raise ValueError(f"port range {text!r} is outside 1-65535 or reversed")
    return low, high


def port_env(ports: tuple[int, int] | None) -> dict[str, str]:
    if not ports:
        return {}
    first, size = ports
    env = {"AMPSM_PORT": str(first), "AMPSM_PORTS": f"{first}-{first + size - 1}"}
    for i in range(1, size):
        env[f"AMPSM_PORT_{i}"] = str(first + i)
    return env


def session_env(session: Session, ports: tuple[int, int] | None) -> dict[str, str]:
    """The environment every command of this session runs with (no secrets: ids, paths, ports)."""
    return {"AMPSM_SESSION_ID": session.id, "AMPSM_WORKTREE": session.worktree_path, **port_env(ports)}


def hook_log(config: Config, session_id: str, kind: str) -> Path:
    return config.streams_dir / session_id / (SETUP_LOG if kind == "setup" else TEARDOWN_LOG)


# -- .worktreeinclude ------------------------------------------------------------------------


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    from .git.cleanup import disk_size

    return disk_size(path)


async def included_paths(root: Path, include_file: str, skip: list[Path]) -> list[str]:
    """Entries of the main checkout matched by the include file *and* ignored by git (a directory
    wholly matched comes as one entry ending in `/`)."""
    patterns = root / include_file
    if not patterns.is_file():
        return []
    res = await git(
        "ls-files", "-z", "--others", "--ignored", "--directory", f"--exclude-from={patterns}", cwd=root, check=False
    )
    candidates = [p for p in split_z(res.stdout) if p]
    skipped = []
    for s in skip:
        try:
            skipped.append(s.resolve().relative_to(root.resolve()).as_posix().rstrip("/") + "/")
        except ValueError:
            pass
    candidates = [c for c in candidates if not any((c.rstrip("/") + "/").startswith(s) for s in skipped)]
    if not candidates:
        return []
    ignored = await git("check-ignore", "-z", "--stdin", cwd=root, input="\0".join(candidates) + "\0", check=False)
    kept = set(split_z(ignored.stdout))
    return [c for c in candidates if c in kept or c.rstrip("/") in kept]


async def copy_includes(
    root: Path, worktree: Path, include_file: str, link_threshold_mb: float, skip: list[Path]
) -> IncludeReport:
    """Copy (or, above the threshold, symlink) the included ignored files into the new worktree."""
    report = IncludeReport()
    threshold = link_threshold_mb * 1024 * 1024
    for rel in await included_paths(root, include_file, skip):
        src = root / rel.rstrip("/")
        dst = worktree / rel.rstrip("/")
        if dst.exists() or dst.is_symlink():
            continue  # tracked in the branch, or copied already: the branch wins
        dst.parent.mkdir(parents=True, exist_ok=True)
        size = await asyncio.to_thread(_size, src)
        if threshold >= 0 and size > threshold:
            dst.symlink_to(src, target_is_directory=src.is_dir())
            report.linked.append(rel)
            await _keep_link_ignored(worktree, rel.rstrip("/"))
        elif src.is_dir() and not src.is_symlink():
            await asyncio.to_thread(shutil.copytree, src, dst, symlinks=True)
            report.copied.append(rel)
        else:
            await asyncio.to_thread(shutil.copy2, src, dst, follow_symlinks=False)
            report.copied.append(rel)
    return report


async def _keep_link_ignored(worktree: Path, rel: str) -> None:
    """A symlink is not a directory to git: `node_modules/` (a directory-only pattern) does not ignore
    a link named node_modules, and the next iteration would commit the link. Such a path gets an
    anchored line in the repository's `info/exclude` (never the user's `.gitignore`)."""
    check = await git("check-ignore", "-q", "--", rel, cwd=worktree, check=False)
    if check.ok:
        return
    res = await git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=worktree)
    exclude = Path(res.out) / "info" / "exclude"
    line = "/" + rel
    text = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
    if line in text.splitlines():
        return
    exclude.parent.mkdir(parents=True, exist_ok=True)
    prefix = "" if not text or text.endswith("\n") else "\n"
    with exclude.open("a", encoding="utf-8") as fh:
        fh.write(f"{prefix}# ampsm: linked by .worktreeinclude\n{line}\n")


# -- setup / teardown ------------------------------------------------------------------------


def hook_command(kind: str, configured: str | None, worktree: Path, root: Path) -> str | None:
    """The command to run: the configured one, else an executable `.ampsm/<kind>` in the worktree
    (the branch's version) or, failing that, in the main checkout."""
    if configured and configured.strip():
        return configured
    for base in (worktree, root):
        script = base / ".ampsm" / kind
        if script.is_file() and os.access(script, os.X_OK):
            return str(script)
    return None


async def run_hook(
    kind: str, command: str, worktree: Path, env: dict[str, str], log_path: Path, timeout: float | None
) -> HookResult:
    """Run a setup/teardown command (the user's own command line, through /bin/sh like a test
    script) in the worktree; its whole output goes to `log_path`."""
    result = await run_script(command, worktree, timeout=timeout or None, env=env)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    text = result.log if not result.timed_out else f"{result.log}\n{kind} script timed out after {timeout:g}s"
    log_path.write_text(f"$ {command}\n{text}\n[exit {result.exit_code}]\n", encoding="utf-8")
    return HookResult(kind=kind, command=command, exit_code=result.exit_code, log_path=log_path)


async def allocate_ports(store: Store, config: Config, session_id: str) -> tuple[int, int] | None:
    """The session's port block (None when `workspace.ports_per_session` is 0); E004 when the pool
    is exhausted."""
    size = config.workspace.ports_per_session
    if size <= 0:
        return None
    low, high = parse_port_range(config.workspace.port_range)
    block = await store.allocate_ports(session_id, low, high, size)
    if block is None:
        raise AmpsmError(
            ErrorCode.WORKTREE,
            f"no free block of {size} ports left in {config.workspace.port_range} (workspace.port_range);"
            " archive finished sessions or widen the range",
        )
    return block


# -- the session lifecycle hooks ---------------------------------------------------------------


async def session_ports(store: Store, session_id: str) -> tuple[int, int] | None:
    return await store.session_ports(session_id)


async def env_for(store: Store, session: Session) -> dict[str, str]:
    """`session_env` with the session's allocated ports."""
    return session_env(session, await store.session_ports(session.id))


async def prepare(service: SessionService, session: Session) -> Session:
    """Ready a new session's worktree: its port block, the `.worktreeinclude` files, the setup
    script. A failure before the setup script (no ports left, a copy that fails) undoes the session
    (worktree and branch removed, anything in them archived first) and raises; a failing setup
    script leaves the session `error`, its log path in `last_error`."""
    from .git.worktrees import worktrees_root
    from .models import SessionStatus

    config, store = service.config, service.store
    root, wt = Path(session.repo_path), Path(session.worktree_path)
    try:
        ports = await allocate_ports(store, config, session.id)
        await copy_includes(
            root,
            wt,
            config.workspace.include_file,
            config.workspace.link_threshold_mb,
            skip=[Path(worktrees_root(root, config.git.worktree_dir))],
        )
    except BaseException:
        await asyncio.shield(_undo(service, session))
        raise
    result = await run_setup(service, session, ports)
    if result is not None and not result.ok:
        reason = setup_failure(result)
        await service.runner.set_status(session, SessionStatus.ERROR, reason, last_error=reason)
    return session


#: How a failed setup is recorded in `last_error`: `iterate` knows from it to run the setup again.
SETUP_FAILED = "E004: setup script failed"


def setup_failure(result: HookResult) -> str:
    code = "timed out" if result.exit_code is None else f"exit {result.exit_code}"
    return f"{SETUP_FAILED} ({code}); log: {result.log_path}"


def setup_failed(session: Session) -> bool:
    from .models import SessionStatus

    return session.status is SessionStatus.ERROR and (session.last_error or "").startswith(SETUP_FAILED)


async def run_setup(service: SessionService, session: Session, ports: tuple[int, int] | None) -> HookResult | None:
    config = service.config
    root, wt = Path(session.repo_path), Path(session.worktree_path)
    command = hook_command("setup", session.setup or config.workspace.setup, wt, root)
    if not command:
        return None
    return await run_hook(
        "setup",
        command,
        wt,
        session_env(session, ports),
        hook_log(config, session.id, "setup"),
        config.workspace.hook_timeout,
    )


async def setup_again(service: SessionService, session: Session) -> None:
    """Before the next turn of a session whose setup failed: the setup runs again (the user fixed
    the script, or what it needed), and the agent never starts in a worktree that is not ready.
    Passing clears the error; failing again is E004 with nothing run."""
    from .errors import AmpsmError, ErrorCode
    from .models import SessionStatus

    result = await run_setup(service, session, await session_ports(service.store, session.id))
    if result is not None and not result.ok:
        reason = setup_failure(result)
        await service.runner.set_status(session, SessionStatus.ERROR, reason, last_error=reason)
        code = "timed out" if result.exit_code is None else f"exit {result.exit_code}"
        raise AmpsmError(
            ErrorCode.WORKTREE,
            f"setup script failed again for {session.id} ({code}); log: {result.log_path} (nothing was run)",
            details=log_tail(result.log_path),
        )
    await service.runner.set_status(session, SessionStatus.IDLE, "setup passed", last_error=None)


async def _undo(service: SessionService, session: Session) -> None:
    from .git.worktrees import remove_worktree

    await remove_worktree(
        Path(session.repo_path),
        Path(session.worktree_path),
        session.branch,
        session_id=session.id,
        force=True,
        lock_timeout=service.config.git.lock_timeout,
    )
    await service.store.release_ports(session.id)
    await service.store.delete_session(session.id)


async def before_removal(service: SessionService, session: Session) -> HookResult | None:
    """Run the teardown script (if any) in a worktree about to be removed; its failure is reported
    in its log, never a reason to keep a worktree the user asked to remove."""
    wt = Path(session.worktree_path)
    if not wt.is_dir():
        return None
    command = hook_command("teardown", service.config.workspace.teardown, wt, Path(session.repo_path))
    if not command:
        return None
    return await run_hook(
        "teardown",
        command,
        wt,
        await env_for(service.store, session),
        hook_log(service.config, session.id, "teardown"),
        service.config.workspace.hook_timeout,
    )


async def ports_again(service: SessionService, session: Session) -> None:
    """Before a turn: a session that gave its block back (a finished batch item, see
    `give_back_ports`) takes one again, so its agent and test script get `AMPSM_PORT` as before.
    E004 when the pool is exhausted, before anything runs."""
    config = service.config
    if config.workspace.ports_per_session > 0 and await service.store.session_ports(session.id) is None:
        await allocate_ports(service.store, config, session.id)


def keeps_ports(config: Config, session: Session) -> bool:
    """Whether a session keeps its block between turns: when a setup or teardown script is set
    (what the setup started may still hold those ports, and the teardown is told them)."""
    root, wt = Path(session.repo_path), Path(session.worktree_path)
    if hook_command("setup", session.setup or config.workspace.setup, wt, root):
        return True
    return hook_command("teardown", config.workspace.teardown, wt, root) is not None


async def give_back_ports(service: SessionService, session: Session) -> bool:
    """A batch item's turn has ended: its block goes back to the pool (four ports kept by every
    finished item ran the pool dry at the 251st item of a batch), unless it `keeps_ports`. The
    next turn takes a block again (`ports_again`). True when given back."""
    if keeps_ports(service.config, session):
        return False
    return await service.store.release_ports(session.id)


async def after_removal(service: SessionService, session: Session) -> None:
    """The worktree is gone: its ports go back to the pool."""
    await service.store.release_ports(session.id)


async def describe(config: Config, store: Store, session: Session) -> dict[str, object]:
    """What `status` and the session detail show: the env the session's commands get, and the setup
    and teardown logs when they exist."""
    ports = await store.session_ports(session.id)
    logs = {kind: hook_log(config, session.id, kind) for kind in ("setup", "teardown")}
    return {
        "ports": list(range(ports[0], ports[0] + ports[1])) if ports else [],
        "env": session_env(session, ports),
        "setup_log": str(logs["setup"]) if logs["setup"].exists() else None,
        "teardown_log": str(logs["teardown"]) if logs["teardown"].exists() else None,
    }


def log_tail(path: str | Path | None, lines: int = 20) -> str:
    if not path or not Path(path).is_file():
        return ""
    return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
