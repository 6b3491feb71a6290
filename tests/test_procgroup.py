"""One process-group helper: every group ampsm starts is signalled and reaped by `engine.procgroup`."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from pathlib import Path

from ampsm_tui.engine import procgroup

PACKAGE = Path(__file__).resolve().parent.parent / "ampsm_tui"
SLEEPER = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"


#: Besides procgroup: the git runner, which spawns, kills and reaps its own git (posix_spawn, waitpid) so
#: that the lean CLI paths import no asyncio, subprocess or logging (issue 17); its kill reaches the group.
OWN_GROUPS = {"procgroup.py", "engine/git/runner.py"}


def test_only_procgroup_signals_process_groups() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in OWN_GROUPS or str(path.relative_to(PACKAGE)) in OWN_GROUPS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "killpg":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


async def test_stop_process_takes_the_children_with_it() -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SLEEPER, start_new_session=True)
    for _ in range(100):  # the grandchild is up
        await asyncio.sleep(0.05)
        if len(_members(proc.pid)) >= 2:
            break
    await procgroup.stop_process(proc, grace_s=0.5)
    assert proc.returncode is not None
    assert not procgroup.group_alive(proc.pid)


def test_kill_popen_takes_the_children_with_it() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER], start_new_session=True)
    try:
        procgroup.kill_popen(proc)
        assert proc.returncode is not None
        assert not procgroup.group_alive(proc.pid)
    finally:
        procgroup.signal_group(proc.pid, 9)


def _members(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if fields[0] != "Z" and fields[2] == str(pgid):
                found.append(int(entry.name))
    return found
