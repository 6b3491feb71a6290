"""`ampsm completion bash|zsh|fish`: shell completion scripts generated from the command registry.

Session and batch ids complete from the database through `ampsm __complete sessions|batches`, a
hidden fast path in cli.py that reads ids with one read-only query (no registry, no asyncio).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .context import Context
from .registry import arg, command

if TYPE_CHECKING:
    from .registry import Command

SHELLS = ("bash", "zsh", "fish")
#: positional argument name -> what completes it
POSITIONAL_KINDS = {"id": "sessions", "session": "sessions", "batch_id": "batches", "file": "files"}
FLAG_ACTIONS = ("store_true", "store_false", "count", "help", "version")


@dataclass
class Flag:
    names: list[str]
    help: str
    takes_value: bool
    choices: list[str] = field(default_factory=list)


@dataclass
class Spec:
    path: tuple[str, ...]
    help: str
    flags: list[Flag]
    positional: str | None  # sessions | batches | files | None


def specs(commands: dict[tuple[str, ...], Command] | None = None) -> list[Spec]:
    from . import load_all
    from .registry import COMMANDS

    load_all()
    out = []
    for path, cmd in sorted((commands if commands is not None else COMMANDS).items()):
        flags = [Flag(["-h", "--help"], "show help", False)]
        positional = None
        for a in cmd.args:
            if not a.flags[0].startswith("-"):
                positional = positional or POSITIONAL_KINDS.get(a.flags[0])
                continue
            action = a.kwargs.get("action")
            choices = [str(c) for c in a.kwargs.get("choices") or []]
            flags.append(Flag(list(a.flags), str(a.kwargs.get("help") or ""), action not in FLAG_ACTIONS, choices))
        if cmd.json:
            flags.append(Flag(["--json"], "print machine-readable JSON", False))
        out.append(Spec(path, cmd.help, flags, positional))
    return out


def _words(items: Sequence[str]) -> str:
    return " ".join(items)


def _children(all_specs: list[Spec]) -> dict[tuple[str, ...], list[str]]:
    kids: dict[tuple[str, ...], list[str]] = {}
    for s in all_specs:
        for i in range(len(s.path)):
            kids.setdefault(s.path[:i], [])
            if s.path[i] not in kids[s.path[:i]]:
                kids[s.path[:i]].append(s.path[i])
    return kids


def bash_script(all_specs: list[Spec]) -> str:
    kids = _children(all_specs)
    prefixes = sorted({" ".join(p) for p in kids if p} | {" ".join(s.path) for s in all_specs})
    lines = [
        '# ampsm bash completion: eval "$(ampsm completion bash)" (e.g. in ~/.bashrc)',
        "_ampsm() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" path="" w i',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        w="${COMP_WORDS[i]}"',
        "        [[ $w == -* ]] && continue",
        '        case "${path:+$path }$w" in',
        f'            {"|".join(repr(p).replace(chr(39), chr(34)) for p in prefixes)}) path="${{path:+$path }}$w" ;;',
        "            *) break ;;",
        "        esac",
        "    done",
        '    case "$path" in',
    ]
    for prefix, names in sorted(kids.items()):
        if prefix in {s.path for s in all_specs}:
            continue
        lines.append(f'        "{" ".join(prefix)}") COMPREPLY=($(compgen -W "{_words(names)}" -- "$cur")) ;;')
    for s in all_specs:
        body = ['case "$prev" in']
        for f in s.flags:
            if f.takes_value:
                values = f'-W "{_words(f.choices)}"' if f.choices else "-f"
                body.append(f'    {"|".join(f.names)}) COMPREPLY=($(compgen {values} -- "$cur")); return ;;')
        body.append("esac")
        flags = _words([n for f in s.flags for n in f.names])
        body.append(f'if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "{flags}" -- "$cur")); return; fi')
        if s.positional in ("sessions", "batches"):
            body.append(f'COMPREPLY=($(compgen -W "$(ampsm __complete {s.positional} 2>/dev/null)" -- "$cur"))')
        elif s.positional == "files":
            body.append('COMPREPLY=($(compgen -f -- "$cur"))')
        lines.append(f'        "{" ".join(s.path)}")')
        lines.extend(f"            {b}" for b in body)
        lines.append("            ;;")
    lines += ["    esac", "}", "complete -o default -F _ampsm ampsm", ""]
    return "\n".join(lines)


def zsh_script(all_specs: list[Spec]) -> str:
    return (
        "#compdef ampsm\n"
        '# ampsm zsh completion: eval "$(ampsm completion zsh)" (e.g. in ~/.zshrc)\n'
        "autoload -U +X compinit && compinit\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(all_specs)
    )


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_script(all_specs: list[Spec]) -> str:
    kids = _children(all_specs)
    leaf_paths = {s.path for s in all_specs}
    from .registry import GROUPS

    helps = {**{g.path: g.help for g in GROUPS.values()}, **{s.path: s.help for s in all_specs}}
    lines = [
        "# ampsm fish completion: ampsm completion fish > ~/.config/fish/completions/ampsm.fish",
        "complete -c ampsm -e",
        "function __ampsm_path_is",
        "    set -l want $argv",
        "    set -l words (commandline -opc)",
        "    set -l got",
        "    for w in $words[2..-1]",
        "        string match -q -- '-*' $w; and continue",
        "        set got $got $w",
        "    end",
        '    test "$got" = "$want"',
        "end",
    ]
    for prefix, names in sorted(kids.items()):
        if prefix in leaf_paths:
            continue
        cond = f"__ampsm_path_is {' '.join(prefix)}".rstrip()
        for name in names:
            desc = helps.get((*prefix, name), "")
            lines.append(f"complete -c ampsm -f -n {_fish_quote(cond)} -a {name} -d {_fish_quote(desc[:80])}")
    for s in all_specs:
        cond = _fish_quote("; and ".join(f"__fish_seen_subcommand_from {word}" for word in s.path))
        for f in s.flags:
            parts = []
            for n in f.names:
                parts.append(f"-l {n[2:]}" if n.startswith("--") else f"-s {n[1:]}")
            extra = " -r" if f.takes_value else ""
            if f.choices:
                extra += f" -x -a {_fish_quote(' '.join(f.choices))}"
            lines.append(f"complete -c ampsm -n {cond} {' '.join(parts)}{extra} -d {_fish_quote(f.help[:80])}")
        if s.positional in ("sessions", "batches"):
            lines.append(f"complete -c ampsm -f -n {cond} -a '(ampsm __complete {s.positional} --describe)'")
    return "\n".join(lines) + "\n"


RENDERERS = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}


@command(
    "completion",
    "print a shell completion script (session and batch ids complete from the database)",
    arg("shell", choices=SHELLS, help="bash, zsh or fish"),
)
async def completion(args: argparse.Namespace, ctx: Context) -> int:
    sys.stdout.write(RENDERERS[args.shell](specs()))
    return 0
