"""What a command handler gets: the config, the store (opened on first use) and the output."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: the lean command paths do not import it (engine/lite.py)
if TYPE_CHECKING:
    import argparse
    import re
    from functools import cached_property
    from typing import Any

    from rich.console import Console

    from ..engine.config import Config
    from ..engine.engine import Engine
    from ..engine.store import Store
else:  # not functools's: its import (with `collections`) was 4 ms of every lean command
    from ..engine.lite import cached_property


class Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._store: Store | None = None
        self._engine: Engine | None = None
        self.emitted = 0  # JSON documents (or JSON Lines) written to stdout so far

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @cached_property
    def config(self) -> Config:
        from ..engine.config import load_config
        from ..engine.logs import setup_logging

        cfg = load_config()
        try:
            setup_logging(cfg.log_path, cfg.log_level)
        except OSError as exc:  # the config dir is a file, or read-only: one line, not a traceback
            from ..engine.config import ConfigError

            raise ConfigError(
                cfg.log_path.parent, None, None, f"cannot create the log: {exc.strerror or exc}"
            ) from None
        return cfg

    async def store(self) -> Store:
        if self._store is None:
            from ..engine.store import Store

            store = Store.from_config(self.config)
            await store.open()
            self._store = store
        return self._store

    async def engine(self) -> Engine:
        """One Engine per command, over the command's store; closed (and waited for) at exit."""
        if self._engine is None:
            from ..engine.engine import Engine

            self._engine = await Engine.open(self.config, await self.store())
        return self._engine

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.close()  # cancels what still runs, waits for the backup, closes the store
            self._store = None
        if self._store is not None:
            await self._store.close()
            self._store = None

    @cached_property
    def console(self) -> Console:
        from rich.console import Console

        return Console(highlight=False, soft_wrap=False)

    @cached_property
    def err_console(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, highlight=False)

    def print(self, *renderables: Any, markup: bool = True, **kwargs: Any) -> None:
        """Text lines go out plain when stdout is not a terminal (scripts, pipes): a rich Console
        costs more to start than most commands take. Tables, and anything on a terminal, go
        through rich."""
        if not kwargs and all(isinstance(r, str) for r in renderables) and not _is_tty():
            text = " ".join(renderables)
            sys.stdout.write((strip_markup(text) if markup else text) + "\n")
            return
        self.console.print(*renderables, markup=markup, **kwargs)

    def emit_json(self, data: Any) -> None:
        """The command's one JSON document (the CLI contract: exactly one per --json run): indented
        for a person at a terminal, compact for a program (and much faster to write: the indenting
        encoder is pure Python)."""
        self.emitted += 1
        indent = 2 if _is_tty() else None
        text = flat_json(data) if indent is None else None
        if text is None:
            import json

            text = json.dumps(data, indent=indent, default=str, ensure_ascii=False)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def emit_jsonl(self, data: Any) -> None:
        import json

        self.emitted += 1
        sys.stdout.write(json.dumps(data, default=str, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def flat_json(data: Any) -> str | None:
    """`json.dumps(data, ensure_ascii=False)` for a flat object (string keys; strings, integers,
    finite floats, booleans, None, lists of strings), None for anything else. What `new`, `squash`
    and `merge --json` print: importing `json` (its decoder, scanner and encoder) was 2 ms of each,
    for one line. Strings go through json's own C encoder."""
    from _json import encode_basestring as quote

    if type(data) is not dict:
        return None
    parts = []
    for key, value in data.items():
        if type(key) is not str:
            return None
        kind = type(value)
        if value is None:
            text = "null"
        elif kind is bool:
            text = "true" if value else "false"
        elif kind is str:
            text = quote(value)
        elif kind is int:
            text = int.__repr__(value)
        elif kind is float and value - value == 0:  # finite: json writes NaN and Infinity
            text = float.__repr__(value)
        elif kind is list and all(type(item) is str for item in value):
            text = "[" + ", ".join(quote(item) for item in value) + "]"
        else:
            return None
        parts.append(f"{quote(key)}: {text}")
    return "{" + ", ".join(parts) + "}"


def _is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stdout
        return False


# rich's own tag pattern (rich.markup.RE_TAGS): a tag starts with a letter, '#', '/' or '@', so
# `model[1m]` or `[0, 1]` are text; a backslash before '[' escapes it.
_TAG_PATTERN = r"(\\*)\[([a-z#/@][^[]*?)]"


def strip_markup(text: str) -> str:
    """The text rich would print for `text`, without its styles."""
    if "[" not in text:
        return text
    import re

    def sub(m: re.Match[str]) -> str:
        slashes = m.group(1)
        if len(slashes) % 2:  # escaped: the tag is literal text
            return slashes[:-1] + "[" + m.group(2) + "]"
        return slashes

    return re.sub(_TAG_PATTERN, sub, text)
