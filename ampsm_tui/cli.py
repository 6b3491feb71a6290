"""`ampsm`: bare opens the TUI; a subcommand runs headless without importing Textual."""

from __future__ import annotations

import os
import sys

from . import __version__

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .engine.errors import AmpsmError


def _fail(line: str, status: int) -> int:
    from .engine.secrets import redact

    sys.stderr.write(redact(line) + "\n")
    sys.stderr.flush()
    return status


#: Set when a lean path answered the command (see `entry`).
_lean_answered = False


def entry() -> int:
    """The `ampsm` program (console script and `python -m ampsm_tui`): `main`, then the exit.

    After a lean path (`new`, `squash`, `merge`, `list --json` without the engine) the output is
    flushed and the process leaves with `os._exit`: tearing down the interpreter's modules was a
    tenth of such a command's run, and nothing is left to do at exit on that path: no logging
    handler, no thread but this one, every file and connection already closed. Anything else
    exits normally. Tests call `main`, which never exits."""
    status = main()
    if _lean_answered and _nothing_left_at_exit():
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):  # a closed pipe: the interpreter's own exit reports it
            return status
        os._exit(status)
    return status


def _nothing_left_at_exit() -> bool:
    if "logging" in sys.modules or "asyncio" in sys.modules:
        return False
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


def main(argv: Sequence[str] | None = None) -> int:
    global _lean_answered
    _lean_answered = False
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # the cheapest possible path: scripts call it to probe the install
        sys.stdout.write(f"ampsm {__version__}\n")
        return 0
    if argv[:1] == ["__complete"]:  # shell completion on every Tab: no registry, no asyncio
        from .commands.complete_ids import complete_ids

        status = complete_ids(argv[1:])
        _lean_answered = True  # nothing to tear down either
        return status
    from .commands import load_for
    from .commands.registry import COMMANDS, build_parser, strict_parse

    # Dispatch on the subcommand before importing anything else: only its module is imported and
    # only its part of the parser is built.
    first = argv[0] if argv and not argv[0].startswith("-") else None
    only = load_for(first)
    lean = COMMANDS.get((first,)) if first else None
    tried = False
    if lean is not None and lean.fast is not None:  # a lean path: not even argparse's parser
        plain = strict_parse(lean, argv[1:])
        if plain is not None:
            tried = True
            answer = _run_fast(lean, plain)
            if answer is not None:
                _lean_answered = True
                return answer
    parser = build_parser(__version__, only=only)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code == 2 and "--json" in argv:  # a usage error: scripts still get one JSON object
            _json_failure("usage", "invalid arguments (see the usage line on stderr)")
        raise
    cmd = getattr(args, "_command", None)
    if cmd is None:
        if getattr(args, "_group", None):
            try:  # a group alone (`ampsm db`) prints its subcommands, as a usage error
                parser.parse_args([*args._group, "--help"])
            except SystemExit:
                pass
            return 2
        return _run_tui()
    return _run_command(cmd, args, fast=not tried)


def _run_fast(cmd: object, args: object) -> int | None:
    """The command's lean path alone: its exit status, or None (having written nothing) when only
    the handler can answer."""
    from .commands.context import Context

    ctx = Context(args)  # type: ignore[arg-type]
    try:
        status = cmd.fast(args, ctx)  # type: ignore[attr-defined]
        return None if status is None else int(status)
    except BaseException as exc:
        return _ended(exc, args, ctx)


def _run_command(cmd: object, args: object, *, fast: bool = True) -> int:
    from .commands.context import Context

    ctx = Context(args)  # type: ignore[arg-type]

    async def run() -> int:
        import asyncio
        import signal

        # SIGTERM cancels the command like Ctrl-C does: a running agent is terminated, its iteration
        # recorded as interrupted, and the session is never left `running` (lesson 15).
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is not None:
            try:
                loop.add_signal_handler(signal.SIGTERM, task.cancel)
            except (RuntimeError, ValueError):  # embedded off the main thread: the host owns signals
                pass
        try:
            return await cmd.handler(args, ctx)  # type: ignore[attr-defined]
        finally:
            await ctx.close()

    try:
        # A lean synchronous path (e.g. `list --json`) answers without the event loop, the engine
        # or the models when it can; None leaves the command to its handler.
        lean = getattr(cmd, "fast", None) if fast else None
        if lean is not None and (status := lean(args, ctx)) is not None:
            return int(status)
        from .engine.pydantic_boot import skip_plugin_scan

        skip_plugin_scan()  # before the first model: no importlib.metadata when no plugin is installed
        import asyncio

        return asyncio.run(run())
    except BaseException as exc:
        return _ended(exc, args, ctx)


def _ended(exc: BaseException, args: object, ctx: object) -> int:
    """The exit status (and the one line, and the --json document) for what ended a command."""
    failure: BaseException = exc
    if isinstance(exc, Exception):  # a git or SQLite failure that escaped the engine keeps its code
        failure = _coded(exc, ctx) or exc
    if getattr(args, "json", False) and (getattr(ctx, "emitted", 0) == 0 or getattr(args, "stream", False)):
        _json_failure_for(failure, lines=bool(getattr(args, "stream", False)))
    return _failed(failure)


def _json_failure(code: str, message: str, data: dict[str, object] | None = None, *, lines: bool = False) -> None:
    """The --json contract on failure: one JSON object with `code` and `message` on stdout (the
    `E00N:` line still goes to stderr)."""
    import json

    from .engine.secrets import redact

    doc = {**(data or {}), "code": code, "message": message}
    try:
        # JSON Lines under --stream; else like every document (indented only for a terminal)
        indent = 2 if not lines and sys.stdout.isatty() else None
        sys.stdout.write(redact(json.dumps(doc, indent=indent, default=str, ensure_ascii=False)) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # nobody reads stdout any more
        pass


def _json_failure_for(exc: BaseException, *, lines: bool = False) -> None:
    import asyncio

    from .engine.config import ConfigError
    from .engine.errors import AmpsmError, UsageError

    if isinstance(exc, AmpsmError):
        _json_failure(exc.code.value, exc.message, exc.data, lines=lines)
    elif isinstance(exc, UsageError):
        _json_failure("usage", exc.message, lines=lines)
    elif isinstance(exc, ConfigError):
        _json_failure("config", str(exc), lines=lines)
    elif isinstance(exc, KeyboardInterrupt):
        _json_failure("interrupted", "interrupted", lines=lines)
    elif isinstance(exc, asyncio.CancelledError):
        _json_failure("terminated", "terminated", lines=lines)
    elif isinstance(exc, Exception) and not isinstance(exc, BrokenPipeError):
        _json_failure("error", f"{type(exc).__name__}: {exc}", lines=lines)


def _failed(exc: BaseException) -> int:
    """One line on stderr and the exit status for an exception that ended a command."""
    import _signal  # `signal` wraps it in enums: the lean paths end here too
    import asyncio

    from .engine.config import ConfigError
    from .engine.errors import AmpsmError, UsageError

    try:
        raise exc
    except AmpsmError as exc:
        status = _fail(exc.one_line(), exc.exit_status)
        if exc.details:  # e.g. the failing test log: stderr, so --json output stays machine-readable
            from .engine.secrets import redact

            sys.stderr.write(redact(exc.details.rstrip()) + "\n")
        return status
    except ConfigError as exc:
        return _fail(f"error: config: {exc}", 2)
    except UsageError as exc:
        return _fail(f"error: {exc.message}", exc.exit_status)
    except KeyboardInterrupt:
        return _fail("interrupted", 128 + _signal.SIGINT)
    except asyncio.CancelledError:
        return _fail("terminated", 128 + _signal.SIGTERM)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # an output path that cannot be written, a full disk: say which file
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"error: {exc.strerror or exc}{where}", 1)
    except Exception as exc:  # a bug: one line for the user, the traceback in the log file
        return _unexpected(exc)


def _coded(exc: Exception, ctx: object) -> AmpsmError | None:
    """A git or SQLite failure that escaped the engine still leaves with its code (E001/E003)."""
    import sqlite3

    from .engine.errors import AmpsmError, ErrorCode
    from .engine.git.runner import GitError

    if isinstance(exc, sqlite3.Error):
        try:
            where = str(ctx.config.db_path)  # type: ignore[attr-defined]
        except Exception:
            where = "the database"
        return AmpsmError(ErrorCode.DATABASE, f"database {where}: {exc}")
    if isinstance(exc, GitError):
        detail = " ".join((exc.result.stderr or exc.result.stdout).strip().splitlines()[:2])
        return AmpsmError(ErrorCode.GIT, f"git {' '.join(exc.result.args[:2])} failed: {detail}")
    return None


def _unexpected(exc: Exception) -> int:
    import logging

    from .engine.logfile import configure_pending

    configure_pending()  # a lean path made the log file ready without setting logging up

    logging.getLogger("ampsm_tui.cli").error("unexpected error", exc_info=exc)
    if os.environ.get("AMPSM_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    return _fail(
        f"error: internal error: {type(exc).__name__}: {exc} (traceback in the log; AMPSM_DEBUG=1 prints it)", 1
    )


def _run_tui() -> int:
    from .engine.config import ConfigError

    try:
        from .app import run_app
    except ImportError as exc:  # pragma: no cover - a broken install
        return _fail(f"error: the TUI could not start: {exc}", 1)
    try:
        return run_app()
    except ConfigError as exc:
        return _fail(f"error: config: {exc}", 2)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(entry())
