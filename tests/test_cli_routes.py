"""`ampsm <word>` imports only the module(s) that own <word>: the route table must be exact."""

from __future__ import annotations

import subprocess
import sys

from ampsm_tui.commands import MODULES, ROUTES

PROBE = """
import importlib, json, sys
from ampsm_tui.commands.registry import COMMANDS
importlib.import_module("ampsm_tui.commands." + sys.argv[1])
print(json.dumps(sorted({path[0] for path in COMMANDS})))
"""


def test_routes_name_exactly_the_modules_that_register_each_first_word() -> None:
    import json

    owners: dict[str, set[str]] = {}
    for module in MODULES:  # a fresh interpreter per module: what it registers on its own
        out = subprocess.run([sys.executable, "-c", PROBE, module], capture_output=True, text=True, check=True)
        for word in json.loads(out.stdout):
            owners.setdefault(word, set()).add(module)
    assert {word: set(mods) for word, mods in ROUTES.items()} == owners


def test_a_command_imports_only_its_own_module() -> None:
    code = (
        "import sys\nfrom ampsm_tui.cli import main\ntry:\n    main(['config', 'show'])\nfinally:\n"
        "    print(sorted(m for m in sys.modules if m.startswith('ampsm_tui.commands.')), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    loaded = out.stderr.strip().splitlines()[-1]
    assert "ampsm_tui.commands.maintenance" in loaded
    for other in ("session", "batch", "bench", "telemetry", "demo"):
        assert f"ampsm_tui.commands.{other}'" not in loaded, loaded


def test_unknown_word_still_gets_the_full_usage_error() -> None:
    out = subprocess.run([sys.executable, "-m", "ampsm_tui", "lsit"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "invalid choice: 'lsit'" in out.stderr
    assert "list" in out.stderr  # the choices listed come from the whole registry


def test_plain_output_is_what_rich_prints_without_styles() -> None:
    import io

    from rich.console import Console

    from ampsm_tui.commands.context import strip_markup

    samples = [
        "[bold]sess-1[/] name — [bold]idle[/]",
        "model claude-opus-4-8[1m] costs [0, 1]",
        r"literal \[bold] tag",
        "[red]E004: worktree missing[/red]",
        "[link=https://x.example]docs[/link] and [dim]more[/]",
        "no markup at all: 100% (a/b) [x",
    ]
    for text in samples:
        console = Console(file=io.StringIO(), highlight=False, soft_wrap=True, color_system=None, emoji=False)
        console.print(text)
        assert strip_markup(text) == console.file.getvalue().rstrip("\n"), text  # type: ignore[attr-defined]
