"""First paint of the dashboard against a minimal Textual app, side by side in one run (issue 16).

Each sample is a fresh process (interpreter start, imports, app start), timed by the parent from
spawn to the child's "painted" line: the minimal app (a Static and a Footer) after its first
refresh; ampsm when the dashboard has painted (header, empty panes), and separately when its rows
are filled in. Bytecode is on, in a temp PYTHONPYCACHEPREFIX warmed by one untimed run of each.
Variants alternate so a load spike on the shared machine hits them all alike. Prints figures; never a test.

    .venv/bin/python bench/tui_first_paint.py [--runs 9] [--sessions 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """
from textual.app import App
from textual.widgets import Footer, Static

class Minimal(App):
    def compose(self):
        yield Static("hello")
        yield Footer()

    def on_mount(self):
        self.call_after_refresh(self.done)

    def done(self):
        print("painted", flush=True)
        self.exit()

Minimal().run(headless=True, size=(80, 24))
"""

AMPSM = """
import sys
from ampsm_tui.app import create_app
from ampsm_tui.screens.dashboard import DashboardScreen

mount, apply = DashboardScreen.on_mount, DashboardScreen._apply

def on_mount(self):
    mount(self)
    self.call_after_refresh(lambda: print("painted", flush=True))

def _apply(self, *args, **kwargs):
    apply(self, *args, **kwargs)
    self.call_after_refresh(lambda: (print("filled", flush=True), self.app.exit()))

DashboardScreen.on_mount = on_mount
DashboardScreen._apply = _apply
create_app(cursor_blink=False).run(headless=True, size=(80, 24))
"""


def sample(code: str, env: dict[str, str]) -> dict[str, float]:
    """Seconds from spawn to each line the child prints."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    seen: dict[str, float] = {}
    for line in proc.stdout:
        seen.setdefault(line.strip(), time.perf_counter() - start)
    proc.wait(timeout=120)
    return seen


def seed(config_dir: Path, count: int) -> None:
    env = {**os.environ, "AMPSM_CONFIG_DIR": str(config_dir)}
    code = f"import asyncio, sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import tui_startup; asyncio.run(tui_startup._seed({count}))"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = {**os.environ, "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache"), "PYTHONDONTWRITEBYTECODE": ""}
        base.pop("PYTHONDONTWRITEBYTECODE")
        dirs = {0: Path(tmp) / "empty", args.sessions: Path(tmp) / "many"}
        for count, path in dirs.items():
            path.mkdir()
            seed(path, count)
        variants = {
            "minimal Textual app": (MINIMAL, base),
            "ampsm, 0 sessions": (AMPSM, {**base, "AMPSM_CONFIG_DIR": str(dirs[0])}),
            f"ampsm, {args.sessions} sessions": (AMPSM, {**base, "AMPSM_CONFIG_DIR": str(dirs[args.sessions])}),
        }
        for code, env in variants.values():  # warm the bytecode cache, untimed
            sample(code, env)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, (code, env) in variants.items():
                results[name].append(sample(code, env))
    minimal = statistics.median(r["painted"] for r in results["minimal Textual app"])
    print(f"first paint, 80x24, median of {args.runs} fresh processes (bytecode on), load {os.getloadavg()[0]:.1f}:")
    for name, runs in results.items():
        paint = statistics.median(r["painted"] for r in runs)
        line = f"  {name:<26} painted {paint * 1000:6.0f} ms ({paint / minimal:4.2f}x minimal)"
        if all("filled" in r for r in runs):
            filled = statistics.median(r["filled"] for r in runs)
            line += f"   rows filled {filled * 1000:6.0f} ms ({filled / minimal:4.2f}x)"
        print(line)
    return 0


if __name__ == "__main__":
    asyncio.run(asyncio.sleep(0))
    raise SystemExit(main())
