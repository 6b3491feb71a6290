from __future__ import annotations

from ampsm_tui import __version__
from tests.conftest import run_cli


def test_version_and_help() -> None:
    out = run_cli("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"ampsm {__version__}"
    helped = run_cli("--help")
    assert helped.returncode == 0
    for name in ("doctor", "db", "config"):
        assert name in helped.stdout


def test_group_without_subcommand_shows_help() -> None:
    out = run_cli("db")
    assert out.returncode == 2
    assert "check" in out.stdout


def test_every_command_has_working_help() -> None:
    """`--help` of every registered command renders (argparse treats `%` in help as a format)."""
    import contextlib
    import io

    import pytest

    from ampsm_tui.commands import load_all
    from ampsm_tui.commands.registry import COMMANDS, build_parser

    load_all()
    parser = build_parser(__version__)
    for path in COMMANDS:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
            parser.parse_args([*path, "--help"])
        assert done.value.code == 0, path
        assert "usage: ampsm " + " ".join(path) in out.getvalue()
