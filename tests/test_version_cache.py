"""The agent's `--version` is probed once per binary, across processes: cached by path and mtime."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = "from ampsm_tui.engine.agents.preflight import binary_version; import sys; print(binary_version(sys.argv[1]))"


def test_version_is_asked_once_per_binary_until_it_changes(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    agent = tmp_path / "agent"
    agent.write_text(f'#!/bin/sh\necho "$@" >> {calls}\necho "agent 1.2.3"\n')
    agent.chmod(0o755)
    env = {**os.environ, "AMPSM_CONFIG_DIR": str(tmp_path / "home")}

    def probe() -> str:
        out = subprocess.run([sys.executable, "-c", PROBE, str(agent)], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert probe() == "1.2.3"
    assert probe() == "1.2.3"  # a second command: from the cache on disk
    assert calls.read_text().splitlines() == ["--version"]
    cache = tmp_path / "home" / "cache" / "agent-versions.json"
    assert cache.stat().st_mode & 0o777 == 0o600

    agent.write_text(f'#!/bin/sh\necho "$@" >> {calls}\necho "agent 1.3.0"\n')  # an upgrade
    os.utime(agent, (1_900_000_000, 1_900_000_000))
    assert probe() == "1.3.0"
    assert calls.read_text().splitlines() == ["--version", "--version"]
