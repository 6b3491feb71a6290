"""Errors that cross the engine boundary.

Every failure a user can act on is an `AmpsmError` with one of the spec's codes, so the CLI and the
TUI can show one line (`E00N: message`) and scripts can branch on the exit status.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    from enum import StrEnum
    from typing import Any
else:  # `enum` (with the `functools` and `operator` it imports) was 4 ms of every lean command
    from .lite import StrEnum


class ErrorCode(StrEnum):
    GIT = "E001"
    AGENT = "E002"
    DATABASE = "E003"
    WORKTREE = "E004"
    TIMEOUT = "E005"
    TEST_FAILED = "E006"


#: What each code means and what a user does about it (the README's table is generated from this).
ERROR_HELP: dict[ErrorCode, tuple[str, str]] = {
    ErrorCode.GIT: (
        "Git repository not found or invalid",
        "Check the path is a git repository, the base branch exists, and no merge/rebase is in progress.",
    ),
    ErrorCode.AGENT: (
        "Agent CLI missing or authentication failure",
        "Install the agent CLI and log in (e.g. `amp login` or set AMP_API_KEY); run `ampsm verify-amp`.",
    ),
    ErrorCode.DATABASE: (
        "Database corruption or unusable database",
        "Run `ampsm db check`; move the damaged file aside and restore a copy from your backups.",
    ),
    ErrorCode.WORKTREE: (
        "Worktree creation failed",
        "Run `ampsm clean-environment --dry-run` and `git worktree prune`; check disk space and permissions.",
    ),
    ErrorCode.TIMEOUT: (
        "Iteration timed out",
        "Raise `--timeout` or `amp.timeout`; the work done so far is committed on the session branch.",
    ),
    ErrorCode.TEST_FAILED: (
        "Test script failed",
        "Read the test log (`ampsm status ID`), then `ampsm iterate ID` or fix it by hand in the worktree.",
    ),
}

#: Exit status for each code: 10 + N, so scripts can tell E005 from E006 without parsing stderr.
EXIT_STATUS: dict[ErrorCode, int] = {code: 10 + int(code.value[1:]) for code in ErrorCode}


class AmpsmError(Exception):
    """A failure with a code, a one-line message and optionally details (e.g. a test log)."""

    def __init__(
        self, code: ErrorCode | str, message: str, *, details: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        self.code = ErrorCode(code)
        self.message = message.strip().splitlines()[0] if message.strip() else self.code.name
        self.details = details if details is not None else _rest(message)
        #: What the command would have printed with --json (e.g. a stopped land's result): the CLI's
        #: one JSON document on failure is this plus `code` and `message`.
        self.data = data
        super().__init__(f"{self.code.value}: {self.message}")

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.code]

    def one_line(self) -> str:
        return f"{self.code.value}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled whole (a Ray worker's error reaches the driver as itself, code and all)."""
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: type[AmpsmError], args: tuple[Any, ...], state: dict[str, Any]) -> AmpsmError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


def _rest(message: str) -> str | None:
    lines = message.strip().splitlines()
    return "\n".join(lines[1:]) if len(lines) > 1 else None


class UsageError(Exception):
    """Bad input that is not one of the six failure classes (unknown id, bad flag combination).
    Shown as `error: message`, exit status 2, like argparse's own usage errors."""

    exit_status = 2

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
