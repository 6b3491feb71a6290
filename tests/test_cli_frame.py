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
