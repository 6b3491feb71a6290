"""The lean paths of `list --json`, `squash -m` and `merge`: the answer without the engine, the
models, aiosqlite or (for list) an event loop, where it is provably the full path's answer.

Each returns what the command prints, or None having written nothing: the full handler in
`commands/session.py` then runs. They decline whenever only the full path can decide (a config
file, a session to reconcile or refuse, a teardown script, overlaps that need git); the tests in
`tests/test_lean_*.py` compare both paths on twin repos and databases.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Coroutine
    from typing import Any, TypeVar

    from ..engine.config import Config
    from ..engine.git.integrate import IntegrationResult
    from ..engine.paths import LeanConfig

    T = TypeVar("T")

#: overlap.PER_REPO (a test checks it): live sessions compared per repo.
OVERLAP_PER_REPO = 16


def overlaps_possible(rows: list[dict[str, Any]]) -> bool:
    """Whether `overlap.sharing_a_repo` would keep any of these sessions (some repo with two live
    ones among its most recently updated): only then can `find_overlaps` find anything."""
    import os

    by_repo: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] not in ("done", "archived") and row["worktree_path"]:
            by_repo.setdefault(row["repo_path"], []).append(row)
    for group in by_repo.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda r: r["updated_at"] or r["created_at"], reverse=True)
        if sum(1 for r in group[:OVERLAP_PER_REPO] if os.path.isdir(r["worktree_path"])) > 1:
            return True
    return False


def list_rows(args: argparse.Namespace, config: Any) -> list[dict[str, Any]] | None:
    """`list --json`'s document on plain sqlite3, or None where only the full path can tell: a repo
    filter (git resolves it), two live sessions in one repo (overlaps are computed with git), and
    whatever `list_session_dicts` declines. `config` is called for the models' config when there
    is a config file (its errors are the full path's)."""
    if args.repo:
        return None

    from ..engine.paths import lean_config
    from ..engine.store.quick import list_session_dicts

    lean = lean_config()
    if lean is None:  # a config file: validated by the models, its errors as the full path's
        cfg: Config = config()
        db, timeout_s = str(cfg.db_path), cfg.database.busy_timeout_ms / 1000
    else:
        db, timeout_s = lean.db_path, lean.busy_timeout_s
    rows = list_session_dicts(db, status=args.status, limit=args.limit, timeout_s=timeout_s)
    if rows is None or overlaps_possible(rows):
        return None  # two live sessions of one repo: their overlaps need git
    for row in rows:
        if row["notify_webhook"]:  # as the full path: rows stored before URLs were redacted
            from ..engine.secrets import redact

            row["notify_webhook"] = redact(row["notify_webhook"])
        row["overlaps"] = []
    return rows


def run_lean(coro: Coroutine[Any, Any, T]) -> T:
    """Run a lean path's one coroutine to its end with no event loop (`git.runner.run_sync`: git
    runs on this thread, and asyncio is never imported). SIGTERM ends it like Ctrl-C ends the full
    path: as a cancellation at the point it reached (a git process is killed, a half-made worktree
    undone), so the exit status and message are the handler's."""
    import _signal  # not `signal`: its enums (and `enum`'s import) cost more than the whole call

    from ..engine.git.runner import run_sync

    def terminated(signum: int, frame: object) -> None:
        import asyncio

        raise asyncio.CancelledError

    try:
        previous = _signal.signal(_signal.SIGTERM, terminated)
    except ValueError:  # embedded off the main thread: the host owns signals
        return run_sync(coro)
    try:
        return run_sync(coro)
    finally:
        _signal.signal(_signal.SIGTERM, previous)


def squash(args: argparse.Namespace) -> str | None:
    """`squash -m MESSAGE`: the session read with plain sqlite3, then the engine's own `git.squash`
    (the git layer needs neither the models nor the store; squashing writes no row). The new sha,
    or None without a message (it is written from the iterations), with a config file, or for a
    session the full path must refuse or reconcile first."""
    if args.message is None or not args.message.strip():
        return None
    import os

    from ..engine.paths import lean_config
    from ..engine.store.quick import resolve_session_dict

    lean = lean_config()
    if lean is None:
        return None
    s = resolve_session_dict(lean.db_path, args.id, timeout_s=lean.busy_timeout_s)
    if s is None or s["status"] in ("done", "archived") or not s["worktree_path"]:
        return None
    if not os.path.isdir(s["worktree_path"]):
        return None  # E004 with how to restore it, from the full path
    from ..engine import git as gitops
    from ..engine.logfile import prepare

    try:
        prepare(lean.log_path, lean.log_level)
    except OSError:
        return None  # the full path reports it as a config error
    return run_lean(
        gitops.squash(
            s["repo_path"],
            s["worktree_path"],
            s["base_branch"],
            args.message,
            prefix=lean.commit_prefix,
            manual="fold" if lean.squash_manual == "fold" else "keep",
            lock_timeout=lean.lock_timeout,
        )
    )


def merge(args: argparse.Namespace) -> IntegrationResult | None:
    """`merge`: the session read with plain sqlite3, then the steps of `SessionService.merge` on the
    engine's own git layer, and its two writes. None with a config file, a teardown script (it gets
    the session's ports and env from the store), or a session the full path must refuse or
    reconcile first."""
    import os

    from ..engine.paths import lean_config
    from ..engine.store.quick import resolve_session_dict

    lean = lean_config()
    if lean is None:
        return None
    s = resolve_session_dict(lean.db_path, args.id, timeout_s=lean.busy_timeout_s)
    if s is None or s["status"] in ("done", "archived") or not s["worktree_path"] or not s["branch"]:
        return None
    if not os.path.isdir(s["worktree_path"]):
        return None
    for base in (s["worktree_path"], s["repo_path"]):  # workspace.hook_command's defaults (no workspace.teardown)
        if _hook(base, "teardown"):
            return None
    from ..engine.logfile import prepare

    try:
        prepare(lean.log_path, lean.log_level)
    except OSError:
        return None  # the full path reports it as a config error
    remove = False if args.keep_worktree else lean.remove_worktree_after_merge
    return run_lean(_merge(s, lean, remove=remove, message=args.message))


async def _merge(s: dict[str, Any], lean: LeanConfig, *, remove: bool, message: str | None) -> IntegrationResult:
    """`SessionService.merge` step for step (its events have no subscriber in a headless merge)."""
    from ..engine import git as gitops
    from ..engine.errors import AmpsmError, ErrorCode
    from ..engine.git.commits import ensure_session_branch
    from ..engine.git.diffs import record_merge
    from ..engine.git.locks import RepoLock
    from ..engine.git.runner import GitError, gather_all
    from ..engine.store.quick import mark_merged

    sid, repo, wt, branch, base = s["id"], s["repo_path"], s["worktree_path"], s["branch"], s["base_branch"]
    try:
        async with RepoLock(wt, lean.lock_timeout, purpose=f"check {sid}"):
            await ensure_session_branch(wt, branch, session_id=sid)
    except GitError as exc:
        raise AmpsmError(ErrorCode.GIT, f"worktree {wt} cannot be checked: {exc}") from None
    result = await gitops.merge(
        repo,
        wt,
        branch,
        base,
        mode=lean.merge_mode,  # type: ignore[arg-type]  # the config's MergeMode, read without the models
        keep_conflict=False,
        message=message,
        remove_after=False,
        session_id=sid,
        lock_timeout=lean.lock_timeout,
    )
    if not result.ok:
        return result

    async def record() -> Exception | None:
        """What the merge landed, kept in refs: its failure is raised once the store says merged."""
        if result.base_before and result.sha and not result.already_merged:
            try:
                await record_merge(repo, sid, result.base_before, result.sha)
            except Exception as exc:
                return exc
        return None

    failed = None
    if remove:
        removal = gitops.remove_worktree(
            repo, wt, branch, session_id=sid, force=True, lock_timeout=lean.lock_timeout, merged_tip=result.merged_tip
        )
        # the record's refs beside the removal (other refs; git locks each): their first gits overlap
        failed, removed = await gather_all(record(), removal)
        if removed.archive.ref:
            result.message = removed.archive.describe()
    else:
        failed = await record()
    mark_merged(lean.db_path, sid, release_ports=remove, timeout_s=lean.busy_timeout_s)
    if failed is not None:
        raise failed
    return result


def new(args: argparse.Namespace) -> dict[str, Any] | None:
    """`new` without --run: the row written with plain sqlite3 (with its port block, in one
    transaction) after the engine's own `create_worktree`. The session as `new --json` prints it,
    or None having done nothing: with a config file, best-of, --run, --setup, a webhook, a model,
    a prompt from a file or stdin, a database the full path must create, migrate or reconcile, a
    repo with a `.worktreeinclude` or an `.ampsm/setup` (in the main checkout or, found after the
    worktree is made and then undone, in the branch), or a value the full path would refuse."""
    if args.agents or args.n or args.run or args.setup or args.notify_webhook or args.model:
        return None
    if args.prompt_file is not None or args.prompt == "-":
        return None
    if args.agent == "command":
        if not args.agent_cmd or not args.agent_cmd.strip():
            return None
        if any(c in args.agent_cmd for c in "'\"\\"):  # only quotes and escapes can make shlex refuse
            import shlex

            try:
                shlex.split(args.agent_cmd)
            except ValueError:
                return None  # E002 from the adapter, on the full path
    elif args.agent_cmd:
        return None
    from ..engine.secrets import scrub

    name, prompt = scrub(args.name), scrub(args.prompt or "")
    if not name.strip() or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return None
    if any(value and scrub(value) != value for value in (args.script, args.agent_cmd)):
        return None
    import os

    from ..engine.paths import lean_config

    lean = lean_config()
    if lean is None or not os.path.isfile(lean.db_path):  # the full path creates it
        return None
    from ..engine.logfile import prepare

    try:
        prepare(lean.log_path, lean.log_level)
    except OSError:
        return None  # the full path reports it as a config error
    return run_lean(_new(args, lean, name.strip(), prompt))


def _hook(base: str, name: str) -> bool:
    """Whether `workspace.hook_command` would find an executable `.ampsm/<name>` under `base`."""
    import os

    script = os.path.join(base, ".ampsm", name)
    return os.path.isfile(script) and os.access(script, os.X_OK)


async def _new(args: argparse.Namespace, lean: LeanConfig, name: str, prompt: str) -> dict[str, Any] | None:
    """`SessionService.create` step for step (its SessionCreated event has no subscriber here)."""
    import os

    from ..engine import git as gitops
    from ..engine.clock import now_iso
    from ..engine.errors import AmpsmError, ErrorCode
    from ..engine.git.runner import gather_all

    try:
        root = (await gitops.repo_paths(args.repo)).root
    except AmpsmError:
        return None  # its error from the full path
    if os.path.isfile(os.path.join(root, lean.include_file)) or _hook(root, "setup"):
        return None
    sid = f"sess-{os.urandom(4).hex()}"

    async def usable() -> bool:
        """Whether the full path would use the database as it is (fully migrated, nothing to
        reconcile): checked while git makes the worktree (importing sqlite3 and reading the schema
        took as long as `git worktree add`; two cores do both at once)."""
        from ..engine.store.quick import ready

        return ready(lean.db_path, timeout_s=lean.busy_timeout_s)

    info, ready_db = await gather_all(
        gitops.create_worktree(
            root,
            sid,
            name,
            args.base or lean.default_base_branch,
            worktree_dir=lean.worktree_dir,
            lock_timeout=lean.lock_timeout,
            default_base=not args.base,
        ),
        usable(),
    )

    async def undo() -> None:
        await gitops.remove_worktree(root, info.path, info.branch, session_id=sid, force=True)

    if not ready_db:  # the full path migrates or reconciles first, then makes its own worktree
        await undo()
        return None
    from ..engine.store.quick import SESSION_FIELDS, NoFreePorts, Unsure, insert_session

    if _hook(info.path, "setup"):  # the branch has its own setup script: the full path runs it
        await undo()
        return None
    now = now_iso()
    values = {
        "id": sid,
        "name": name,
        "prompt": prompt,
        "repo_path": root,
        "base_branch": info.base_branch,
        "branch": info.branch,
        "worktree_path": info.path,
        "agent": args.agent,
        "agent_cmd": args.agent_cmd,
        "script": args.script,
        "timeout_s": args.timeout,
        "status": "idle",
        "created_at": now,
        "updated_at": now,
    }
    row = {field: values.get(field) for field, _ in SESSION_FIELDS}
    ports = None
    if lean.ports_per_session > 0:
        low, _, high = lean.port_range.partition("-")
        ports = (int(low), int(high), lean.ports_per_session)
    try:
        insert_session(lean.db_path, row, ports=ports, timeout_s=lean.busy_timeout_s)
    except Unsure:
        await undo()
        return None
    except NoFreePorts:
        await undo()
        raise AmpsmError(
            ErrorCode.WORKTREE,
            f"no free block of {lean.ports_per_session} ports left in {lean.port_range} (workspace.port_range);"
            " archive finished sessions or widen the range",
        ) from None
    except BaseException:
        await undo()  # no orphaned worktree when the row cannot be written
        raise
    return row
