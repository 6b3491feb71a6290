"""The README's reference sections, generated from the code so they cannot drift.

`python -m ampsm_tui.docgen` rewrites the sections between `<!-- BEGIN x -->` / `<!-- END x -->`
markers in README.md; `--check` exits 1 when the README is out of date (the tests run it).
Sources: the command registry, the pydantic config models, the actions registry, the error codes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel

README = Path(__file__).resolve().parent.parent / "README.md"


def cli_reference(commands: dict[tuple[str, ...], Any] | None = None) -> str:
    from .commands import load_all
    from .commands.registry import COMMANDS

    load_all()
    commands = COMMANDS if commands is None else commands
    lines = ["| command | what it does | options |", "|---|---|---|"]
    for path, cmd in sorted(commands.items()):
        opts = []
        for a in cmd.args:
            name = "/".join(f"`{f}`" for f in a.flags)
            opts.append(name)
        if cmd.json:
            opts.append("`--json`")
        lines.append(f"| `ampsm {' '.join(path)}` | {cmd.help} | {' '.join(opts)} |")
    return "\n".join(lines)


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is None:
        return getattr(annotation, "__name__", str(annotation)).replace("NoneType", "null")
    args = get_args(annotation)
    if str(origin).endswith("Literal"):
        return " \\| ".join(repr(a).replace("'", '"') for a in args)
    if origin in (list,):
        return f"list[{_type_name(args[0])}]"
    if origin in (dict,):
        return f"map[{_type_name(args[0])}, {_type_name(args[1])}]"
    names = [_type_name(a) for a in args if a is not type(None)]
    if len(args) != len(names):
        names.append("null")
    return " \\| ".join(names)


def _walk(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    rows = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = field.alias or name
        dotted = f"{prefix}{key}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.extend(_walk(ann, dotted + "."))
            continue
        default = field.get_default(call_default_factory=True)
        rows.append((dotted, _type_name(ann), json.dumps(default, default=str), field.description or ""))
    return rows


def config_reference() -> str:
    from .engine.config import ENV_OVERRIDES, Config

    env_for = {key: name for name, key, _ in ENV_OVERRIDES}
    lines = ["| key | type | default | env override | meaning |", "|---|---|---|---|---|"]
    for dotted, typ, default, desc in _walk(Config):
        env = f"`{env_for[dotted]}`" if dotted in env_for else ""
        lines.append(f"| `{dotted}` | {typ} | `{default}` | {env} | {desc} |")
    lines.append("")
    lines.append("Durations accept `300s`, `5m`, `24h` or a number of seconds.")
    lines.append("")
    lines.append("| environment variable | overrides | meaning |")
    lines.append("|---|---|---|")
    for name, key, desc in ENV_OVERRIDES:
        lines.append(f"| `{name}` | `{key}` | {desc} |")
    return "\n".join(lines)


def error_reference() -> str:
    from .engine.errors import ERROR_HELP, EXIT_STATUS

    lines = ["| code | exit status | meaning | what to do |", "|---|---|---|---|"]
    for code, (meaning, fix) in ERROR_HELP.items():
        lines.append(f"| {code.value} | {EXIT_STATUS[code]} | {meaning} | {fix} |")
    lines.append(
        "| (usage) | 2 | bad flags, unknown session id, invalid config file | the one-line message says which |"
    )
    return "\n".join(lines)


def keys_reference() -> str:
    from .actions import key_table_markdown

    return key_table_markdown()


SECTIONS: dict[str, Callable[[], str]] = {
    "cli": cli_reference,
    "config": config_reference,
    "keys": keys_reference,
    "errors": error_reference,
}


def render(text: str, sections: dict[str, Callable[[], str]] | None = None) -> str:
    for name, fn in (sections or SECTIONS).items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n)(.*?)(<!-- END {name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README has no <!-- BEGIN {name} --> section")
        body = fn().rstrip() + "\n"
        text = pattern.sub(lambda m, body=body: m.group(1) + body + m.group(3), text)  # type: ignore[misc]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    current = args.readme.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if fresh != current:
            sys.stderr.write("README.md is out of date: run `make docs`\n")
            return 1
        return 0
    args.readme.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
