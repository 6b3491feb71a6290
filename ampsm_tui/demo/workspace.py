"""The demo workspace: one folder holding its own config, DB, logs, the scripted agent's launcher and a
small real Python project in a git repository. The user's own config dir and DB are never read or
written: the demo runs with `AMPSM_CONFIG_DIR` pointed at this folder.

A re-run resets the folder, but only a folder this module made (it carries a marker file): `--dir`
pointed at anything else is refused rather than emptied.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..engine.errors import UsageError

MARKER = ".ampsm-demo"
AGENT_NAME = "ampsm-demo-agent"
REPO_NAME = "textkit"

#: Environment variables that would point the demo at the user's data or at another agent.
FOREIGN_ENV = ("AMPSM_DB_PATH", "AMPSM_AMP_BIN")

TEXTKIT = '''"""textkit: small text helpers (the ampsm demo project)."""

import re


def word_count(text: str) -> int:
    """Number of words in `text`."""
    return len(text.split())


def shout(text: str) -> str:
    """Upper-case with single spaces and an exclamation mark."""
    return re.sub(r"\\s+", " ", text.strip()).upper() + "!"
'''

TEXTKIT_TEST = """import unittest

from textkit import shout, word_count


class TextkitTest(unittest.TestCase):
    def test_word_count(self) -> None:
        self.assertEqual(word_count("a b  c"), 3)

    def test_shout(self) -> None:
        self.assertEqual(shout(" hi   there "), "HI THERE!")


if __name__ == "__main__":
    unittest.main()
"""

README = """# textkit

Small text helpers. This repository was made by `ampsm demo`; the sessions in the demo work on it.

Run the tests with `python -m unittest -q`.
"""

#: What main gets after the "word count" session branched: the same line, changed differently.
MAIN_MOVES_OLD = "    return len(text.split())\n"
MAIN_MOVES_NEW = "    return len([w for w in text.split() if any(c.isalnum() for c in w)])\n"


@dataclass(frozen=True)
class DemoWorkspace:
    root: Path

    @property
    def config_dir(self) -> Path:
        return self.root

    @property
    def config_file(self) -> Path:
        return self.root / "config.yaml"

    @property
    def db_path(self) -> Path:
        return self.root / "sessions.db"

    @property
    def repo(self) -> Path:
        return self.root / REPO_NAME

    @property
    def agent_bin(self) -> Path:
        return self.root / "bin" / AGENT_NAME

    @property
    def roles_file(self) -> Path:
        return self.root / "demo.json"

    @property
    def test_script(self) -> str:
        return f"{shlex.quote(sys.executable)} -m unittest -q"

    def env(self) -> dict[str, str]:
        """What the demo's processes need: this folder as the config dir (and no foreign overrides)."""
        return {"AMPSM_CONFIG_DIR": str(self.root)}

    def activate(self) -> None:
        """Point this process (and the agents it starts) at the workspace."""
        os.environ.update(self.env())
        for name in FOREIGN_ENV:
            os.environ.pop(name, None)

    def roles(self) -> dict[str, str]:
        if not self.roles_file.exists():
            return {}
        data = json.loads(self.roles_file.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()}


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise UsageError(f"git {' '.join(args)} failed in {cwd}: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout.strip()


def _reset(root: Path) -> None:
    if not root.exists():
        return
    if not root.is_dir():
        raise UsageError(f"{root} exists and is not a folder; choose another --dir")
    if (root / MARKER).exists():
        shutil.rmtree(root)
    elif any(root.iterdir()):
        raise UsageError(f"{root} is not empty and was not made by `ampsm demo`; choose another --dir")


def _config_text(ws: DemoWorkspace) -> str:
    return (
        "# The ampsm demo workspace (made by `ampsm demo`; reset on every run).\n"
        "database:\n"
        f"  path: {json.dumps(str(ws.db_path))}\n"
        "  backup_interval: 0\n"
        "amp:\n"
        f"  binary: {json.dumps(str(ws.agent_bin))}\n"
        "  timeout: 300s\n"
        "  retry_attempts: 0\n"
        "notifications:\n"
        "  desktop: true\n"
        "ui:\n"
        "  confirm_destructive: true\n"
    )


def _launcher(ws: DemoWorkspace) -> None:
    """A real executable for `amp.binary`: this interpreter running the bundled agent (a shell
    launcher, so an interpreter path with spaces or a long shebang cannot break it)."""
    ws.agent_bin.parent.mkdir(parents=True, exist_ok=True)
    ws.agent_bin.write_text(
        "#!/bin/sh\n# The ampsm demo's scripted agent (speaks Amp's --stream-json).\n"
        f'exec {shlex.quote(sys.executable)} -m ampsm_tui.demo.agent "$@"\n',
        encoding="utf-8",
    )
    ws.agent_bin.chmod(0o755)


def _repo(ws: DemoWorkspace) -> None:
    repo = ws.repo
    repo.mkdir(parents=True)
    _git(repo, "init", "-q")
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    # The demo must work on a machine with no git identity configured (an empty HOME).
    _git(repo, "config", "user.name", "ampsm demo")
    _git(repo, "config", "user.email", "demo@ampsm.invalid")
    _git(repo, "config", "commit.gpgsign", "false")
    (repo / "textkit.py").write_text(TEXTKIT, encoding="utf-8")
    (repo / "test_textkit.py").write_text(TEXTKIT_TEST, encoding="utf-8")
    (repo / "README.md").write_text(README, encoding="utf-8")
    (repo / ".gitignore").write_text("__pycache__/\n*.pyc\n", encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "textkit: word_count and shout")


def move_main(ws: DemoWorkspace) -> str:
    """Someone else changes word_count on main after a session branched (its merge will conflict)."""
    path = ws.repo / "textkit.py"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(MAIN_MOVES_OLD, MAIN_MOVES_NEW, 1), encoding="utf-8")
    _git(ws.repo, "commit", "-q", "-am", "word_count: skip tokens without letters or digits")
    return _git(ws.repo, "rev-parse", "HEAD")


def default_root() -> Path:
    """`<config dir>/demo` of the user's config dir (computed before the demo takes it over)."""
    from ..engine.config import config_dir

    return config_dir() / "demo"


def build(root: Path | None = None) -> DemoWorkspace:
    """A fresh workspace at `root` (default `<config dir>/demo`), replacing a previous demo there."""
    root = (root or default_root()).expanduser().resolve()
    _reset(root)
    root.mkdir(parents=True, exist_ok=True)
    ws = DemoWorkspace(root)
    (root / MARKER).write_text("made by `ampsm demo`; the whole folder is replaced on the next run\n")
    ws.config_file.write_text(_config_text(ws), encoding="utf-8")
    _launcher(ws)
    _repo(ws)
    return ws
