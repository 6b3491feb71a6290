"""Child processes are watched by pidfd (no thread per subprocess), exit codes stay right in every loop."""

from __future__ import annotations

import asyncio
import sys
import threading

from ampsm_tui.engine.childwatch import LoopPidfdWatcher, pidfd_usable, use_pidfd_watcher


def _waiter_threads() -> list[str]:
    # ThreadedChildWatcher names its per-process threads "waitpid-N"
    return [t.name for t in threading.enumerate() if t.name.startswith("waitpid-")]


async def _run(code: int) -> tuple[int, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", f"import sys; sys.stdin.read(); sys.exit({code})", stdin=asyncio.subprocess.PIPE
    )
    during = _waiter_threads()  # the child is alive (it waits for stdin)
    await proc.communicate(b"")
    return proc.returncode or 0, during


def test_no_thread_per_subprocess_and_exit_codes_in_every_loop() -> None:
    assert sys.platform != "linux" or pidfd_usable()  # the CI machine has pidfds (Linux >= 5.3)
    in_use = use_pidfd_watcher()
    assert in_use == (sys.version_info < (3, 12))
    assert use_pidfd_watcher() == in_use  # idempotent
    assert asyncio.run(_run(3)) == (3, [])
    assert asyncio.run(_run(0)) == (0, [])  # a second loop: the watcher is not bound to the first
    results: list[tuple[int, list[str]]] = []
    worker = threading.Thread(target=lambda: results.append(asyncio.run(_run(5))))
    worker.start()
    worker.join(60)
    assert results == [(5, [])]  # a loop in another thread


def test_a_killed_child_reports_its_signal() -> None:
    use_pidfd_watcher()

    async def main() -> int | None:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(60)")
        proc.kill()
        return await proc.wait()

    assert asyncio.run(main()) == -9


def test_remove_child_handler_forgets_the_child() -> None:
    watcher = LoopPidfdWatcher()

    async def main() -> tuple[bool, bool, int]:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        called: list[int] = []
        watcher.add_child_handler(proc.pid, lambda pid, code: called.append(code))
        removed = watcher.remove_child_handler(proc.pid)
        return removed, watcher.remove_child_handler(proc.pid), await proc.wait()

    if sys.platform == "linux":
        assert asyncio.run(main())[:2] == (True, False)
