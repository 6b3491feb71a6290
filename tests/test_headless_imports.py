"""Headless commands must not pay Textual's start-up cost (and the engine never imports UI)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_and_doctor_do_not_import_textual() -> None:
    code = (
        "import sys, ampsm_tui.cli\n"
        "assert 'textual' not in sys.modules, 'import of cli loaded textual'\n"
        "try:\n"
        "    status = ampsm_tui.cli.main(['doctor', '--json'])\n"
        "except SystemExit as exc:\n"
        "    status = exc.code\n"
        "leaked = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print('LEAKED', leaked)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "LEAKED []" in out.stdout


def test_engine_and_commands_never_import_ui() -> None:
    forbidden = ("textual", "ampsm_tui.screens", "ampsm_tui.widgets", "ampsm_tui.app")
    offenders = []
    for folder in ("engine", "commands"):
        for path in (ROOT / "ampsm_tui" / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:  # resolve relative imports against the package path
                        pkg = path.relative_to(ROOT).with_suffix("").parts[: -node.level]
                        base = ".".join([*pkg, base] if base else pkg)
                    names = [base]
                for name in names:
                    if any(name == f or name.startswith(f + ".") for f in forbidden):
                        offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []
