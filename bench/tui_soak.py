"""Soak: the dashboard left open while other processes run `ampsm new`, `iterate` and `merge` for
minutes, with another session selected all along (issue 16). For every external command, the delay
from its last write to the DB (the session's `updated_at`, written by the other process) to the
dashboard showing that very row; a change not shown within MISS_AFTER_S counts as missed. A watcher
task notes when each (session, updated_at) first appears on the dashboard, so a change shown before
the command even exited is timed right. Prints figures; never a test.

    .venv/bin/python bench/tui_soak.py [--minutes 10] [--gap 2]

The app is the real one (file watch + the default slow poll), headless, in this process; the
commands are real `ampsm` subprocesses on a real repository in a temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MISS_AFTER_S = 10.0


async def ampsm(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ampsm_tui", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"ampsm {' '.join(args)}: {err.decode().strip()}")
    return out.decode()


def iso_seconds(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def last_write(session_id: str) -> str:
    """The session's `updated_at` as the other process left it (read from the DB file directly)."""
    import sqlite3

    from ampsm_tui.engine.config import load_config

    with sqlite3.connect(f"file:{load_config().db_path}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT updated_at FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return str(row[0])


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
    os.environ.update(env)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "README.md").write_text("# soak\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=repo, check=True)
    return repo


async def soak(minutes: float, gap: float, repo: Path) -> dict[str, Any]:
    from ampsm_tui.app import create_app
    from ampsm_tui.engine.config import load_config
    from ampsm_tui.screens.dashboard import DashboardScreen
    from ampsm_tui.widgets.session_list import SessionTable

    def new_args(name: str) -> list[str]:
        cmd = f"sh -c 'echo {name} >> {name}.txt'"
        return ["new", "--repo", str(repo), "--name", name, "--agent", "command", "--agent-cmd", cmd, "--json"]

    anchor = json.JSONDecoder().raw_decode(await ampsm(*new_args("anchor")))[0]["id"]
    config = load_config()
    app = create_app(config, cursor_blink=False)
    delays: list[float] = []
    missed: list[str] = []
    counts = {"new": 0, "iterate": 0, "merge": 0}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(1.0)
        dash = app.screen
        assert isinstance(dash, DashboardScreen)
        table = dash.query_one(SessionTable)

        def select_anchor() -> None:
            rows = [r.session.id for r in table.visible_rows()]
            table.move_cursor(row=rows.index(anchor))

        select_anchor()
        await pilot.pause(0.3)
        first_seen: dict[tuple[str, str], float] = {}

        async def watch_dashboard() -> None:
            while True:
                now = time.time()
                for s in list(dash.sessions.values()):
                    first_seen.setdefault((s.id, s.updated_at), now)
                await asyncio.sleep(0.002)

        watcher = asyncio.create_task(watch_dashboard())
        live: list[str] = []
        iterations: dict[str, int] = {}
        n = 0
        end = time.monotonic() + minutes * 60
        while time.monotonic() < end:
            n += 1
            kind = "new" if len(live) < 2 else random.choice(["new", "iterate", "iterate", "merge"])
            if kind == "new":
                out = await ampsm(*new_args(f"s{n}"))
                sid = json.JSONDecoder().raw_decode(out)[0]["id"]
                live.append(sid)
                iterations[sid] = 0

                def seen(sid: str = sid) -> bool:
                    return sid in dash.sessions

            elif kind == "iterate":
                sid = random.choice(live)
                await ampsm("iterate", sid)
                iterations[sid] += 1
                want = str(iterations[sid])

                def seen(sid: str = sid, want: str = want) -> bool:
                    try:
                        return str(table.get_cell(sid, "iters")) == want
                    except Exception:
                        return False

            else:
                sid = live.pop(0)
                await ampsm("merge", sid)

                def seen(sid: str = sid) -> bool:
                    s = dash.sessions.get(sid)
                    return s is not None and s.status.value == "done"

            done = time.perf_counter()
            counts[kind] += 1
            written = await last_write(sid)
            while not (seen() and (sid, written) in first_seen):
                if time.perf_counter() - done > MISS_AFTER_S:
                    missed.append(f"{kind} {sid}")
                    break
                await asyncio.sleep(0.005)
            else:
                delays.append(first_seen[(sid, written)] - iso_seconds(written))
            if dash.selected != anchor:
                missed.append(f"selection moved to {dash.selected}")
                select_anchor()
            await asyncio.sleep(gap)
        watcher.cancel()
        restarts = app.db_watch.restarts if app.db_watch else -1
    delays.sort()
    return {"counts": counts, "delays": delays, "missed": missed, "restarts": restarts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between external commands")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AMPSM_CONFIG_DIR"] = str(Path(tmp) / "home")
        repo = make_repo(Path(tmp))
        r = asyncio.run(soak(args.minutes, args.gap, repo))
    d = r["delays"]
    p95 = d[max(0, int(len(d) * 0.95) - 1)] if d else float("nan")
    print(
        f"soak {args.minutes:g} min: {sum(r['counts'].values())} external commands {r['counts']}, "
        f"missed {len(r['missed'])}, delay median {statistics.median(d) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {d[-1] * 1000:.0f} ms; watch/poll restarts {r['restarts']}; load {os.getloadavg()[0]:.1f}"
    )
    for what in r["missed"]:
        print("  missed:", what)
    return 0 if not r["missed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
