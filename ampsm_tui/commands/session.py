"""Session commands: new, iterate, interactive, status, list, diff, squash, rebase, merge, archive, cancel,
verify-amp."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import format as fmt
from .argtypes import positive_float, positive_int
from .context import Context
from .registry import agent_names, arg, command

if TYPE_CHECKING:
    import argparse

    from ..engine.engine import Engine
    from ..engine.git.integrate import IntegrationResult
    from ..engine.models import Iteration, Session


AGENTS = agent_names()  # the adapter registry's, read when parsing


async def _engine(ctx: Context) -> Engine:
    return await ctx.engine()


def _session_dict(s: Session) -> dict[str, Any]:
    from ..engine.secrets import redact

    data = s.model_dump(mode="json")
    if data.get("notify_webhook"):  # rows stored before webhook URLs were redacted on the way in
        data["notify_webhook"] = redact(data["notify_webhook"])
    return data


def _read_prompt(prompt: str | None, prompt_file: str | None) -> str | None:
    """`--prompt TEXT`, `--prompt -` (stdin) or `--prompt-file F`: a shell cannot pass a 1 MB
    argument, so long prompts come from a file or a pipe."""
    import sys
    from pathlib import Path

    from ..engine.errors import UsageError

    if prompt_file is not None:
        if prompt not in (None, ""):
            raise UsageError("give --prompt or --prompt-file, not both")
        try:
            data = sys.stdin.buffer.read() if prompt_file == "-" else Path(prompt_file).expanduser().read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read --prompt-file {prompt_file}: {exc.strerror or exc}") from None
        return data.decode("utf-8", "replace")
    if prompt == "-":
        return sys.stdin.buffer.read().decode("utf-8", "replace")
    return prompt


def _finish_iteration(ctx: Context, it: Iteration, session: Session | None = None) -> int:
    """The iteration's outcome: with --json one document (the session's, with `iteration` in it, for
    `new --run`), also on failure, where the CLI adds `code` and `message` to it."""
    from ..engine.errors import AmpsmError, ErrorCode
    from ..engine.runner import iteration_error, require_completed

    doc = it.model_dump(mode="json")
    if session is not None:
        doc = {**_session_dict(session), "iteration": doc}
    data = None if getattr(ctx.args, "stream", False) else doc
    try:
        coded = iteration_error(it) if it.status in ("failed", "interrupted") else None
        if coded is not None:  # e.g. E001: the commit failed; the work is still in the worktree
            raise AmpsmError(coded.code, f"iteration {it.number} failed: {coded.message}")
        if it.status == "interrupted":
            raise AmpsmError(
                ErrorCode.AGENT, f"iteration {it.number} was interrupted: {it.error or 'agent ended early'}"
            )
        if it.status == "failed":
            raise AmpsmError(
                ErrorCode.AGENT, f"the agent failed in iteration {it.number}: {it.error or 'non-zero exit'}"
            )
        require_completed(it)
    except AmpsmError as exc:
        exc.data = data
        raise
    if ctx.json and data is not None:
        ctx.emit_json(data)
    if not ctx.json:
        spent = fmt.token_total(it.input_tokens, it.output_tokens)
        cost = fmt.iteration_cost(it.cost_usd, spent)
        commit = it.commit_sha[:10] if it.commit_sha else "no changes"
        test = "" if it.test_exit_code is None else ", tests passed"
        tokens = fmt.token_split(it.input_tokens, it.output_tokens, it.cache_read_tokens + it.cache_creation_tokens)
        ctx.print(f"iteration {it.number} done: {commit}, {tokens} tokens, {cost}{test}")
    return 0


async def _run_iteration(
    ctx: Context, engine: Engine, session_id: str, prompt: str | None, session: Session | None = None
) -> int:
    from .printer import StreamPrinter

    args = ctx.args
    if getattr(args, "stream", False):
        engine.bus.subscribe("*", StreamPrinter(as_json=ctx.json))
    # awaiting-input / error reach the config's webhook and the session's own (`new --notify-webhook`)
    # through the engine's notifier; closing the engine delivers what is in flight.
    it = await engine.sessions.iterate(
        session_id,
        prompt,
        until_green=getattr(args, "until_green", None) or 1,
        max_cost=getattr(args, "max_cost", None),
    )
    await engine.notifier.drain()
    return _finish_iteration(ctx, it, session)


_ITERATE_ARGS = (
    arg("--stream", action="store_true", help="print the agent's events live (JSONL with --json)"),
    arg("--until-green", type=positive_int, metavar="N", help="feed failing test output back, up to N iterations"),
    arg(
        "--max-cost",
        type=positive_float,
        metavar="USD",
        help="session budget: no turn starts once the session has spent this much",
    ),
)


def _new_fast(args: argparse.Namespace, ctx: Context) -> int | None:
    from . import session_lean

    row = session_lean.new(args)
    if row is None:
        return None
    if ctx.json:
        ctx.emit_json(row)
    else:
        ctx.print(f"Created session: {row['id']}\nWorktree: {row['worktree_path']}\nBranch: {row['branch']}")
    return 0


@command(
    "new",
    "create a session: a worktree and branch for one agent task",
    arg("--repo", default=".", help="repository path (default: current directory)"),
    arg("--name", required=True, help="session name (the branch slug is derived from it)"),
    arg("--prompt", default="", help="the task for the agent (`-` reads it from stdin)"),
    arg("--prompt-file", metavar="FILE", help="read the task from FILE (`-` for stdin): for long prompts"),
    arg("--script", help="test script run after each iteration (the quality gate)"),
    arg("--agent", default="amp", choices=AGENTS, help="agent CLI (default: amp)"),
    arg(
        "--agent-cmd",
        help="command line for --agent command (prompt on stdin, in $AMPSM_PROMPT_FILE and $AMPSM_PROMPT)",
    ),
    arg("--model", help="model (or Amp mode: low|medium|high|ultra)"),
    arg("--timeout", type=positive_float, metavar="SECONDS", help="agent turn timeout (default: amp.timeout)"),
    arg("--base", help="base branch (default: git.default_base_branch, else the repo's HEAD branch)"),
    arg("--notify-webhook", metavar="URL", help="POST this session's notifications to URL"),
    arg("--setup", help="setup command run once in the new worktree (default: workspace.setup, .ampsm/setup)"),
    arg("--run", action="store_true", help="also run the first iteration"),
    arg("--agents", metavar="A,B", help="best-of-N: one session per agent (× --n), run in parallel and ranked"),
    arg("--n", type=positive_int, metavar="N", help="best-of-N: N sessions per agent (default 1; implies --run)"),
    *_ITERATE_ARGS,
    json=True,
    fast=_new_fast,
)
async def new(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine.errors import UsageError

    if args.agents or args.n:  # best-of-N: its own checks and output
        from .bestof import run_best_of_command

        return await run_best_of_command(ctx, args, _read_prompt(args.prompt, args.prompt_file) or "")
    if args.agent == "command" and not args.agent_cmd:
        raise UsageError("--agent command needs --agent-cmd")
    if args.agent_cmd and args.agent != "command":
        raise UsageError("--agent-cmd only applies to --agent command")
    prompt = _read_prompt(args.prompt, args.prompt_file) or ""
    engine = await _engine(ctx)
    session = await engine.sessions.create(
        repo=args.repo,
        name=args.name,
        prompt=prompt,
        script=args.script,
        agent=args.agent,
        agent_cmd=args.agent_cmd,
        model=args.model,
        timeout_s=args.timeout,
        base=args.base,
        notify_webhook=args.notify_webhook,
        setup=args.setup,
    )
    from .safekeep import setup_failed

    await setup_failed(ctx, engine, session)  # before any output: a failed setup is the one error document
    if ctx.json and not args.run:
        ctx.emit_json(_session_dict(session))
    elif not ctx.json:
        ctx.print(f"Created session: {session.id}\nWorktree: {session.worktree_path}\nBranch: {session.branch}")
    if args.run:  # --json: one document, the session with its first `iteration` (JSON Lines with --stream)
        return await _run_iteration(ctx, engine, session.id, None, session)
    return 0


@command(
    "iterate",
    "run one agent turn in the session: agent → commit → test script",
    arg("id", help="session id or unique prefix"),
    arg("--prompt", help="follow-up prompt (default: the session's prompt; `-` reads it from stdin)"),
    arg("--prompt-file", metavar="FILE", help="read the follow-up prompt from FILE (`-` for stdin)"),
    *_ITERATE_ARGS,
    json=True,
)
async def iterate(args: argparse.Namespace, ctx: Context) -> int:
    prompt = _read_prompt(args.prompt, args.prompt_file)
    engine = await _engine(ctx)
    return await _run_iteration(ctx, engine, args.id, prompt)


@command(
    "interactive",
    "multi-turn chat in the terminal, continuing the agent's thread",
    arg("id", help="session id or unique prefix"),
)
async def interactive(args: argparse.Namespace, ctx: Context) -> int:
    import asyncio
    import sys

    from ..engine.errors import AmpsmError
    from .printer import StreamPrinter

    engine = await _engine(ctx)
    session = await engine.sessions.get(args.id)
    engine.bus.subscribe("*", StreamPrinter(as_json=False))
    ctx.print(f"Chatting with {session.agent} in {session.id} ({session.branch}). Empty line or /quit to leave.")
    while True:
        sys.stdout.write("you> ")
        sys.stdout.flush()
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line or line.strip() in ("", "/quit", "/exit"):
            break
        try:
            await engine.sessions.iterate(session.id, line.strip())
        except AmpsmError as exc:
            ctx.err_console.print(exc.one_line(), markup=False)
    return 0


def _age(iso: str) -> str:
    from ..engine.clock import parse_iso, utcnow

    seconds = (utcnow() - parse_iso(iso)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(max(seconds, 0))}s"


def _list_fast(args: argparse.Namespace, ctx: Context) -> int | None:
    if not ctx.json:
        return None
    from .session_lean import list_rows

    rows = list_rows(args, lambda: ctx.config)
    if rows is None:
        return None
    ctx.emit_json(rows)
    return 0


@command(
    "list",
    "list sessions, newest first",
    arg(
        "--status",
        choices=("idle", "running", "awaiting-input", "error", "done", "interrupted", "archived"),
        help="only this status",
    ),
    arg("--repo", help="only sessions of this repository path"),
    arg("--limit", type=positive_int, help="at most N (the most recent)"),
    json=True,
    fast=_list_fast,
)
async def list_sessions(args: argparse.Namespace, ctx: Context) -> int:
    engine = await _engine(ctx)
    repo = None
    if args.repo:
        from pathlib import Path

        from ..engine import git as gitops

        repo = str((await gitops.repo_paths(Path(args.repo))).root)
    sessions = await engine.store.list_sessions(status=args.status, repo_path=repo, limit=args.limit)
    from ..engine.overlap import find_overlaps

    overlaps = await find_overlaps(sessions)  # live sessions of one repo touching the same files
    if ctx.json:
        ctx.emit_json(
            [{**_session_dict(s), "overlaps": [o.to_dict() for o in overlaps.get(s.id, [])]} for s in sessions]
        )
        return 0
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("ID", "STATUS", "NAME", "BRANCH", "AGENT", "AGE"):
        table.add_column(col)
    for s in sessions:
        flag = " [yellow]⚠ overlaps[/]" if s.id in overlaps else ""
        table.add_row(s.id, str(s.status) + flag, s.name, s.branch, s.agent, _age(s.created_at))
    ctx.print(table if sessions else "no sessions")
    for sid, found in overlaps.items():
        for o in found:
            ctx.print(f"{sid} {o.describe()}", markup=False)
    return 0


@command(
    "status",
    "show a session (iterations, tokens, cost, last test) or a summary of all",
    arg("id", nargs="?", help="session id or unique prefix"),
    json=True,
)
async def status(args: argparse.Namespace, ctx: Context) -> int:
    engine = await _engine(ctx)
    if not args.id:
        sessions = await engine.store.list_sessions()
        counts: dict[str, int] = {}
        for s in sessions:
            counts[str(s.status)] = counts.get(str(s.status), 0) + 1
        if ctx.json:
            ctx.emit_json({"total": len(sessions), "by_status": counts})
        else:
            ctx.print(f"{len(sessions)} sessions: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        return 0
    s = await engine.store.resolve_session(args.id)
    its = await engine.store.list_iterations(s.id)
    from ..engine.workspace import describe

    ws = await describe(engine.config, engine.store, s)
    from ..engine.overlap import overlaps_of

    overlaps = await overlaps_of(s, await engine.store.list_sessions(repo_path=s.repo_path))
    if ctx.json:
        ctx.emit_json(
            {
                "session": _session_dict(s),
                "iterations": [i.model_dump(mode="json") for i in its],
                "workspace": ws,
                "overlaps": [o.to_dict() for o in overlaps],
            }
        )
        return 0
    ctx.print(f"[bold]{s.id}[/] {s.name} — [bold]{s.status}[/]")
    ctx.print(f"repo {s.repo_path}  base {s.base_branch}  branch {s.branch}")
    ctx.print(f"worktree {s.worktree_path}  agent {s.agent}{' ' + s.model if s.model else ''}")
    if s.last_error:
        ctx.print(f"[red]{s.last_error}[/]", markup=True)
    for o in overlaps:
        ctx.print(f"⚠ {o.describe()}", markup=False, style="yellow")
    from .safekeep import print_workspace

    print_workspace(ctx, s, ws)
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("#", "STATUS", "COMMIT", "FILES", "+/-", "TOKENS", "COST", "TEST"):
        table.add_column(col)
    for i in its:
        table.add_row(
            str(i.number),
            str(i.status),
            (i.commit_sha or "-")[:10],
            str(i.files_changed),
            f"+{i.lines_added}/-{i.lines_removed}",
            str(i.input_tokens + i.output_tokens),
            fmt.iteration_cost(i.cost_usd, i.total_tokens),
            "-" if i.test_exit_code is None else ("pass" if i.test_exit_code == 0 else f"fail ({i.test_exit_code})"),
        )
    if its:
        ctx.print(table)
        last = its[-1]
        if last.test_exit_code not in (None, 0) and last.test_log:
            ctx.print("[bold]last test log (tail):[/]")
            ctx.print("\n".join(last.test_log.splitlines()[-20:]), markup=False)
    return 0


@command(
    "diff",
    "show the session's changes against the merge-base with its base branch",
    arg("id", help="session id or unique prefix"),
    arg("--staged", action="store_true", help="only what is staged in the worktree"),
    arg("--stat", action="store_true", help="a diffstat instead of the patch"),
    arg("--last", action="store_true", help="only the last iteration's commit"),
)
async def diff(args: argparse.Namespace, ctx: Context) -> int:
    import sys

    engine = await _engine(ctx)
    text = await engine.sessions.diff(args.id, staged=args.staged, stat=args.stat, last_iteration=args.last)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


def _squash_done(ctx: Context, sha: str) -> int:
    if ctx.json:
        ctx.emit_json({"sha": sha})
    else:
        ctx.print(f"squashed: {sha[:10]}")
    return 0


def _squash_fast(args: argparse.Namespace, ctx: Context) -> int | None:
    from . import session_lean

    sha = session_lean.squash(args)
    return None if sha is None else _squash_done(ctx, sha)


@command(
    "squash",
    "squash the session's amp: commits into one (manual commits per git.squash_manual)",
    arg("id", help="session id or unique prefix"),
    arg("--message", "-m", help="the commit message (default: written from the iterations' summaries)"),
    json=True,
    fast=_squash_fast,
)
async def squash(args: argparse.Namespace, ctx: Context) -> int:
    engine = await _engine(ctx)
    return _squash_done(ctx, await engine.sessions.squash(args.id, args.message))


def _integration_exit(ctx: Context, op: str, result: IntegrationResult) -> int:
    from ..engine.errors import AmpsmError, ErrorCode

    data = {"ok": result.ok, "conflicts": list(result.conflicts), "sha": result.sha}
    if not result.ok:
        files = ", ".join(result.conflicts) or "unknown files"
        raise AmpsmError(
            ErrorCode.GIT,
            f"{op} conflicts in {files}; nothing was changed (resolve in the TUI, or `ampsm land` keeps the conflict)",
            data=data,
        )
    kept = getattr(result, "message", "")  # e.g. what a removal kept, and how to restore it
    if ctx.json:
        ctx.emit_json({**data, "message": kept or None})
    else:
        ctx.print(f"{op} ok" + (f": {result.sha[:10]}" if result.sha else ""))
        if kept:
            ctx.print(kept, markup=False, soft_wrap=True)
    return 0


@command(
    "rebase",
    "rebase the session branch onto a branch (default: its base)",
    arg("id", help="session id or unique prefix"),
    arg("--onto", help="branch to rebase onto (default: the session's base branch)"),
    json=True,
)
async def rebase(args: argparse.Namespace, ctx: Context) -> int:
    engine = await _engine(ctx)
    result = await engine.sessions.rebase(args.id, args.onto)
    return _integration_exit(ctx, "rebase", result)


def _merge_fast(args: argparse.Namespace, ctx: Context) -> int | None:
    from . import session_lean

    result = session_lean.merge(args)
    return None if result is None else _integration_exit(ctx, "merge", result)


@command(
    "merge",
    "merge the session into its base branch (fast-forward when possible, per git.merge_mode)",
    arg("id", help="session id or unique prefix"),
    arg("--keep-worktree", action="store_true", help="keep the worktree and branch after merging"),
    arg("--message", "-m", help="merge commit message (when not a fast-forward)"),
    json=True,
    fast=_merge_fast,
)
async def merge(args: argparse.Namespace, ctx: Context) -> int:
    engine = await _engine(ctx)
    result = await engine.sessions.merge(
        args.id, remove_worktree=False if args.keep_worktree else None, message=args.message
    )
    return _integration_exit(ctx, "merge", result)


@command(
    "archive",
    "archive a session: remove its worktree, keeping unmerged work under refs/ampsm/archive/",
    arg("id", help="session id or unique prefix; `archive list` lists the archives kept"),
    arg("--yes", "-y", action="store_true", help="do not ask (ui.confirm_destructive)"),
    arg("--repo", help="with `archive list`: only this repository"),
    json=True,
)
async def archive(args: argparse.Namespace, ctx: Context) -> int:
    import sys

    from ..engine.errors import UsageError

    if args.id == "list":  # session ids are hex: "list" is never one
        from .safekeep import archive_list

        return await archive_list(args, ctx)

    engine = await _engine(ctx)
    session = await engine.sessions.get(args.id)
    if ctx.config.ui.confirm_destructive and not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("archive asks for confirmation (ui.confirm_destructive); pass --yes")
        answer = input(f"Archive {session.id} ({session.name})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 1
    kept = await engine.sessions.archive_keep(session.id)
    if ctx.json:
        ctx.emit_json({"id": session.id, "kept": kept.ref, "restore": kept.restore_hint if kept.ref else None})
    else:
        ctx.print(f"archived {session.id}; {kept.describe()}", markup=False, soft_wrap=True)
    return 0


@command(
    "cancel",
    "cancel a running iteration (the agent's process group is terminated)",
    arg("id", help="session id or unique prefix"),
    json=True,
)
async def cancel(args: argparse.Namespace, ctx: Context) -> int:
    engine = await _engine(ctx)
    stopped = await engine.sessions.cancel(args.id)
    if ctx.json:
        ctx.emit_json({"cancelled": stopped})
    else:
        ctx.print("cancelled" if stopped else "nothing was running")
    return 0 if stopped else 1


@command(
    "abort",
    "abort the session's rebase/merge left in progress (everything as before), or cancel its running iteration",
    arg("id", help="session id or unique prefix"),
    json=True,
)
async def abort(args: argparse.Namespace, ctx: Context) -> int:
    engine = await _engine(ctx)
    session = await engine.sessions.get(args.id)
    what = None
    if await engine.sessions.abort_operation(session.id):
        what = "aborted the rebase/merge in progress"
    elif await engine.sessions.cancel(session.id):
        what = "cancelled the running iteration"
    if ctx.json:
        ctx.emit_json({"id": session.id, "aborted": what is not None, "what": what})
    else:
        ctx.print(what or "nothing to abort")
    return 0 if what else 1


@command("verify-amp", "check amp is on PATH, its version, and that it is logged in (AMP_API_KEY)", json=True)
async def verify_amp(args: argparse.Namespace, ctx: Context) -> int:
    from ..engine.agents.registry import get_adapter

    adapter = get_adapter("amp")
    info = adapter.check()
    if ctx.json:
        ctx.emit_json(info)
    else:
        ctx.print(f"amp ok: {info}")
    return 0
