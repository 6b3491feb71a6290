"""What ampsm keeps under its config dir is the user's only: directories 0700, data files 0600;
`config init` writes the sample config 0644 (it holds no secrets and others may read it)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.conftest import run_cli


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _flow(home: Path, repo: Path) -> None:
    env = {"AMPSM_CONFIG_DIR": str(home)}
    agent = "echo hello"
    out = run_cli(
        "new", "--repo", str(repo), "--name", "perm", "--agent", "command", "--agent-cmd", agent,
        "--script", "true", "--run", env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    for argv in (
        ["db", "backup"],
        ["config", "init"],
        ["export", "--format", "jsonl", "--out", str(home.parent / "x")],
    ):
        out = run_cli(*argv, env=env)
        assert out.returncode == 0, (argv, out.stderr)


def test_everything_under_a_new_config_dir_is_private(tmp_path: Path, repo: Path) -> None:
    home = tmp_path / "fresh" / ".ampsm"  # neither exists yet: ampsm creates them
    _flow(home, repo)
    assert _mode(home) == 0o700
    for sub in ("streams", "logs", "backups"):
        assert (home / sub).is_dir() and _mode(home / sub) == 0o700, sub
    files = [p for p in home.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"sessions.db", "ampsm.log", "config.yaml", "0001.jsonl"}
    assert any(p.parent.name == "backups" for p in files)
    for p in home.rglob("*"):
        if p.name == "config.yaml":
            assert _mode(p) == 0o644
        elif p.is_dir():
            assert _mode(p) == 0o700, p
        else:
            assert _mode(p) == 0o600, p


def test_folders_an_older_version_left_open_are_tightened(tmp_path: Path, repo: Path) -> None:
    home = tmp_path / "old"
    for sub in ("streams", "logs", "backups"):
        (home / sub).mkdir(parents=True)
        os.chmod(home / sub, 0o755)
    os.chmod(home, 0o755)
    _flow(home, repo)
    for sub in ("streams", "logs", "backups"):
        assert _mode(home / sub) == 0o700, sub
    assert _mode(home) == 0o755  # the user made that folder: theirs to decide
