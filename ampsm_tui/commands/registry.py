"""The one registry of headless commands. The parser, `--help`, shell completion and the README's
CLI reference are all built from it. Importing this module must stay cheap: handlers import
their heavy dependencies (aiosqlite, rich, the engine) inside the function."""

from __future__ import annotations

from types import SimpleNamespace

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable, Sequence
    from typing import Any, cast, overload

    from .context import Context

    Handler = Callable[[argparse.Namespace, Context], Awaitable[int]]
    #: A synchronous lean path tried before the event loop starts: its exit status, or None when
    #: only the handler can answer (it must then have written nothing).
    FastPath = Callable[[argparse.Namespace, Context], int | None]
else:
    # `collections.abc` is `_collections_abc`, loaded at start-up; importing it by that name
    # spares the import of `collections` (and its `keyword`, `operator`, `reprlib`, `itertools`)
    from _collections_abc import Sequence

    from ..engine.lite import cast, overload


class Arg:
    """One `add_argument` call. Plain classes here, not dataclasses: `dataclasses` imports
    `inspect`, and that import alone was a tenth of `ampsm squash`'s start-up."""

    __slots__ = ("flags", "kwargs")

    def __init__(self, flags: tuple[str, ...], kwargs: dict[str, Any]) -> None:
        self.flags = flags
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f"Arg({self.flags!r}, {self.kwargs!r})"

    @property
    def name(self) -> str:
        return self.flags[0]


def arg(*flags: str, **kwargs: Any) -> Arg:
    return Arg(flags, kwargs)


class LazyChoices(Sequence[str]):
    """argparse `choices` read from the engine only when a parse or a help text needs them, so the
    registry stays cheap to import and the engine stays the one list (e.g. the adapter registry's
    agent names)."""

    def __init__(self, load: Callable[[], Sequence[str]]) -> None:
        self._load = load
        self._values: tuple[str, ...] | None = None

    @property
    def values(self) -> tuple[str, ...]:
        if self._values is None:
            self._values = tuple(self._load())
        return self._values

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self.values[index]

    def __len__(self) -> int:
        return len(self.values)

    def __contains__(self, value: object) -> bool:
        return value in self.values


def agent_names() -> LazyChoices:
    """The agents `--agent` accepts: the adapter registry's names."""

    def load() -> Sequence[str]:
        from ..engine.agents.registry import AGENT_NAMES

        return AGENT_NAMES

    return LazyChoices(load)


class Command:
    __slots__ = ("args", "description", "fast", "handler", "help", "json", "path")

    def __init__(
        self,
        path: tuple[str, ...],
        help: str,
        handler: Handler,
        args: list[Arg] | None = None,
        json: bool = False,  # accepts --json for machine output
        description: str | None = None,
        fast: FastPath | None = None,
    ) -> None:
        self.path = path
        self.help = help
        self.handler = handler
        self.args = args if args is not None else []
        self.json = json
        self.description = description
        self.fast = fast

    def __repr__(self) -> str:
        return f"Command({self.name!r})"

    @property
    def name(self) -> str:
        return " ".join(self.path)


class Group:
    __slots__ = ("help", "path")

    def __init__(self, path: tuple[str, ...], help: str) -> None:
        self.path = path
        self.help = help


COMMANDS: dict[tuple[str, ...], Command] = {}
GROUPS: dict[tuple[str, ...], Group] = {}


def group(name: str, help: str) -> None:
    GROUPS[tuple(name.split())] = Group(tuple(name.split()), help)


def command(
    name: str,
    help: str,
    *args: Arg,
    json: bool = False,
    description: str | None = None,
    fast: FastPath | None = None,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        path = tuple(name.split())
        if path in COMMANDS:
            raise ValueError(f"command registered twice: {name}")
        COMMANDS[path] = Command(path, help, handler, list(args), json, description or handler.__doc__, fast)
        return handler

    return register


def build_parser(version: str, only: str | None = None) -> argparse.ArgumentParser:
    """The parser for every registered command, or only for those under the first word `only`
    (what `ampsm <only> ...` needs: the rest of the tree is never built)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="ampsm",
        description="Turn AI coding-agent sessions into reviewable Git branches. Bare `ampsm` opens the TUI.",
    )
    parser.add_argument("--version", action="version", version=f"ampsm {version}")
    subparsers: dict[tuple[str, ...], argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    subparsers[()] = parser.add_subparsers(dest="command", metavar="COMMAND")
    parsers: dict[tuple[str, ...], argparse.ArgumentParser] = {(): parser}

    def ensure(path: tuple[str, ...]) -> argparse.ArgumentParser:
        if path in parsers:
            return parsers[path]
        parent = ensure(path[:-1])
        if path[:-1] not in subparsers:
            subparsers[path[:-1]] = parent.add_subparsers(dest=f"sub_{len(path)}", metavar="SUBCOMMAND")
        grp = GROUPS.get(path)
        p = subparsers[path[:-1]].add_parser(path[-1], help=grp.help if grp else None)
        parsers[path] = p
        p.set_defaults(_group=path)
        return p

    for path, cmd in sorted(COMMANDS.items()):
        if only is not None and path[0] != only:
            continue
        parent = ensure(path[:-1])
        if path[:-1] not in subparsers:
            subparsers[path[:-1]] = parent.add_subparsers(dest=f"sub_{len(path)}", metavar="SUBCOMMAND")
        sub = subparsers[path[:-1]].add_parser(path[-1], help=cmd.help, description=cmd.description or cmd.help)
        for a in cmd.args:
            sub.add_argument(*a.flags, **a.kwargs)
        if cmd.json:
            sub.add_argument("--json", action="store_true", help="print machine-readable JSON")
        sub.set_defaults(_command=cmd)
        parsers[path] = sub
    return parser


#: the `add_argument` keywords `strict_parse` knows the meaning of
_STRICT_KEYWORDS = frozenset({"help", "metavar", "default", "action", "type", "choices", "required", "dest"})


def _dest(a: Arg) -> str:
    """The attribute argparse stores `a` under."""
    if "dest" in a.kwargs:
        return str(a.kwargs["dest"])
    if not a.flags[0].startswith("-"):
        return a.flags[0]
    name = next((f for f in a.flags if f.startswith("--")), a.flags[0])
    return name.lstrip("-").replace("-", "_")


def strict_parse(cmd: Command, argv: Sequence[str]) -> argparse.Namespace | None:
    """The namespace argparse would build for `ampsm <cmd> argv...`, for the plain shapes a script
    writes (every option spelled out, `--opt value` or `--opt=value`, positionals that do not start
    with `-`), without building argparse's parser: for a lean command that parser was a seventh of
    its run. None for anything else (an abbreviation, `-mVALUE`, `--`, `--help`, a value argparse
    would refuse, a missing argument): the caller then parses with argparse, which also gives the
    usage errors. `tests/test_strict_parse.py` compares both on many command lines. The answer is
    a `SimpleNamespace` with argparse's attributes."""
    if len(cmd.path) != 1:
        return None
    specs = [*cmd.args, *([Arg(("--json",), {"action": "store_true"})] if cmd.json else [])]
    flags: dict[str, Arg] = {}
    positionals: list[Arg] = []
    values: dict[str, Any] = {}
    for a in specs:
        action = a.kwargs.get("action", "store")
        if set(a.kwargs) - _STRICT_KEYWORDS or action not in ("store", "store_true"):
            return None
        if a.flags[0].startswith("-"):
            flags.update(dict.fromkeys(a.flags, a))
        else:
            positionals.append(a)
        values[_dest(a)] = a.kwargs.get("default", False if action == "store_true" else None)
    seen: set[str] = set()
    i, taken = 0, 0
    while i < len(argv):
        token = argv[i]
        if token.startswith("-") and token != "-":
            name, eq, value = token.partition("=")
            found = flags.get(name)
            if found is None or (eq and not name.startswith("--")):
                return None
            a = found
            if a.kwargs.get("action") == "store_true":
                if eq:
                    return None
                values[_dest(a)] = True
                seen.add(_dest(a))
                i += 1
                continue
            if not eq:
                if i + 1 >= len(argv) or (argv[i + 1].startswith("-") and argv[i + 1] != "-"):
                    return None
                value = argv[i + 1]
            i += 1 if eq else 2
        else:
            if taken >= len(positionals):
                return None
            a, value = positionals[taken], token
            taken += 1
            i += 1
        converted = _convert(a, value)
        if converted is _INVALID:
            return None
        values[_dest(a)] = converted
        seen.add(_dest(a))
    if taken != len(positionals):
        return None
    for a in specs:
        dest = _dest(a)
        if a.kwargs.get("required") and dest not in seen:
            return None
        default = a.kwargs.get("default")
        if dest not in seen and isinstance(default, str) and "type" in a.kwargs:
            converted = _convert(a, default)  # argparse converts a string default too
            if converted is _INVALID:
                return None
            values[dest] = converted
    # argparse's Namespace is a plain attribute bag like this one; importing argparse (and gettext,
    # locale) for it was a few milliseconds of a command that is meant to take little more than git
    return cast("argparse.Namespace", SimpleNamespace(command=cmd.path[0], **values, _command=cmd))


_INVALID = object()


def _convert(a: Arg, value: str) -> Any:
    kind = a.kwargs.get("type")
    try:
        converted = kind(value) if kind is not None else value
    except Exception:  # argparse's own error message is the one to give
        return _INVALID
    choices = a.kwargs.get("choices")
    if choices is not None and converted not in choices:
        return _INVALID
    return converted
