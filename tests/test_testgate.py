"""The test script gate: exit codes, logs, timeouts, and scripts that leave background children."""

from __future__ import annotations

from pathlib import Path

from ampsm_tui.engine.testgate import run_script


def _alive(marker: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    found.append(proc.name)
            except OSError:
                pass
    return found


async def test_pass_fail_and_log(tmp_path: Path) -> None:
    ok = await run_script("echo all good", tmp_path, timeout=30)
    assert ok.passed and ok.exit_code == 0 and "all good" in ok.log
    bad = await run_script("echo broken >&2; exit 4", tmp_path, timeout=30)
    assert not bad.passed and bad.exit_code == 4 and "broken" in bad.log


async def test_timeout_kills_the_script_and_its_children(tmp_path: Path) -> None:
    marker = f"gate-timeout-{tmp_path.name}"
    result = await run_script(f"(sleep 300; echo {marker}) & sleep 300", tmp_path, timeout=1)
    assert result.timed_out and not result.passed and result.exit_code is None
    assert _alive(marker) == []


async def test_background_child_does_not_hold_the_gate_until_timeout(tmp_path: Path) -> None:
    marker = f"gate-bg-{tmp_path.name}"
    result = await run_script(f"(sleep 300; echo {marker}) & echo started", tmp_path, timeout=20)
    assert result.passed and not result.timed_out and "started" in result.log
    assert _alive(marker) == []
