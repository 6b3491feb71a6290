"""Headless commands skip pydantic's plugin discovery (importlib.metadata) when no pydantic plugin
is installed, and leave it to pydantic when one is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = (
    "import sys\n"
    "from ampsm_tui.cli import main\n"
    "status = main(['status', '--json'])\n"
    "sys.stderr.write('METADATA %s\\n' % ('importlib.metadata' in sys.modules))\n"
    "raise SystemExit(status)\n"
)


def _probe(env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )
    assert out.returncode == 0, out.stderr
    return out


def test_no_plugin_installed_means_no_metadata_scan() -> None:
    assert "METADATA False" in _probe().stderr


def test_an_installed_plugin_is_still_loaded(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist = site / "fakeplug-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pydantic]\nfakeplug = fakeplug_mod:plugin\n")
    marker = tmp_path / "called"
    (site / "fakeplug_mod.py").write_text(
        "import os\n"
        "class _Plugin:\n"
        "    def new_schema_validator(self, *args, **kwargs):\n"
        f"        open({str(marker)!r}, 'a').write('x')\n"
        "        return None, None, None\n"
        "plugin = _Plugin()\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    assert "METADATA True" in _probe(env).stderr
    assert marker.exists()  # pydantic found and used it, as without ampsm's shortcut
    marker.unlink()
    _probe({**env, "PYDANTIC_DISABLE_PLUGINS": "__all__"})  # the user's own switch still works
    assert not marker.exists()
