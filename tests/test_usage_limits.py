"""Usage limits (issue 19): recognised with their reset times; a batch pauses that agent's items
until the reset instead of failing them, resumes by itself, and other agents go on meanwhile.

The parser is checked on the agents' own message shapes; the batch runs the real `ampsm` in a
subprocess with the command agent answering "usage limit, resets at T" until T (T a few seconds
ahead), the fake `amp` beside it, real repos and the real DB.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ampsm_tui.engine.limits import parse_limit
from tests.conftest import FAKES, run_cli
from tests.test_batch_file import make_repo

NOW = datetime(2026, 12, 2, 0, 0, 0, tzinfo=UTC)
SAMPLES = Path("/work/shared/agent-samples")


@pytest.mark.parametrize(
    ("text", "reset"),
    [
        ("Claude AI usage limit reached|1796173200", datetime.fromtimestamp(1796173200, UTC)),
        (
            "You've hit your usage limit. Upgrade to Pro or try again in 2 hours 5 minutes.",
            NOW + timedelta(minutes=125),
        ),
        ("Quota exceeded for quota metric 'Generate Content'. Please retry in 39.5s.", NOW + timedelta(seconds=39.5)),
        ('{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "retryDelay": "39s"}}', NOW + timedelta(seconds=39)),
        ("429 Too Many Requests; Retry-After: 30", NOW + timedelta(seconds=30)),
        ("usage limit reached, resets at 2026-12-02T00:40:00Z", datetime(2026, 12, 2, 0, 40, tzinfo=UTC)),
    ],
)
def test_reset_times_are_read_from_each_agents_message(text: str, reset: datetime) -> None:
    hit = parse_limit(text, NOW)
    assert hit is not None and hit.known and hit.reset_at == reset


def test_a_limit_without_a_time_is_a_guess_and_other_errors_are_not_limits() -> None:
    rate = parse_limit("API Error: Request rejected (429) · fake rate_limit_error", NOW)
    assert rate is not None and not rate.known and rate.reset_at > NOW
    assert parse_limit("Error: tests failed in calc.py", NOW) is None
    assert parse_limit("API Error: 401 invalid x-api-key", NOW) is None
    assert parse_limit("resets 3pm (Europe/London) · 5-hour limit reached", NOW) is not None


def test_claude_429_sample_is_recognised() -> None:
    sample = SAMPLES / "claude_fail429.jsonl"
    if not sample.exists():  # the copy in the repo's fixtures is the same file
        sample = Path(__file__).parent / "fixtures" / "agent-samples" / "claude_fail429.jsonl"
    results = [json.loads(x) for x in sample.read_text().splitlines() if '"type":"result"' in x]
    assert parse_limit(results[0]["result"], NOW) is not None


def _items(home: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(home / "sessions.db")
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute("SELECT * FROM batch_items ORDER BY ordinal"))
    except sqlite3.OperationalError:  # the batch process has not migrated the new DB yet
        return []
    finally:
        conn.close()


def test_an_agent_at_its_usage_limit_pauses_and_resumes_by_itself(tmp_path: Path, isolated_env: Path) -> None:
    ws = tmp_path / "ws"
    make_repo(ws / "repo")
    runs = tmp_path / "runs.log"
    # the limit lifts 25 s from now: on a loaded machine the batch's own start-up takes seconds
    reset = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=25)
    iso = reset.strftime("%Y-%m-%dT%H:%M:%SZ")
    cmd = (
        f'if [ "$(date +%s)" -lt {int(reset.timestamp())} ]; then '
        f'echo "You have hit your usage limit, resets at {iso}" >&2; exit 1; fi; '
        f"echo ok > work.txt; date +%s >> {runs}"
    )
    items = "".join(
        f"  - name: c{n}\n    prompt: work {n}\n    agent: command\n    agentCmd: {json.dumps(cmd)}\n"
        "    script: test -f work.txt\n"
        for n in range(2)
    )
    f = ws / "batch.yaml"
    f.write_text(
        f"name: limits\nrepos:\n  - path: repo\nitems:\n{items}  - name: other\n    prompt: say hi\nconcurrency: 2\n"
    )
    env = dict(os.environ)
    env.update({"PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}", "AMP_API_KEY": "test-key-123456"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "ampsm_tui", "batch", "start", "--file", str(f), "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        seen_paused: dict[str, object] = {}
        seen_table = False
        deadline = time.monotonic() + 120
        while not (seen_paused and seen_table) and proc.poll() is None:
            assert time.monotonic() < deadline, "no item was paused"
            rows = _items(isolated_env) if (isolated_env / "sessions.db").exists() else []
            if rows and not seen_paused:
                status = run_cli("batch", "status", rows[0]["batch_id"], "--json")
                paused = json.loads(status.stdout)["paused"] if status.returncode == 0 else []
                seen_paused = paused[0] if paused else {}
            if seen_paused and not seen_table:  # right away, while the items are still paused
                seen_table = " paused " in run_cli("batch", "status", rows[0]["batch_id"]).stdout
            time.sleep(0.1)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err + out
    assert seen_table, "`batch status` did not show the paused items"
    assert seen_paused["agent"] == "command"
    assert f"usage limit until {reset.strftime('%H:%M:%S')} UTC" in str(seen_paused["note"])
    rows = _items(isolated_env)
    assert [r["status"] for r in rows] == ["succeeded", "succeeded", "succeeded"]  # none failed
    assert [r["attempts"] for r in rows] == [1, 1, 1]  # a pause is not a failed attempt
    assert all(r["error"] is None for r in rows)
    finished = [int(x) for x in runs.read_text().split()]
    assert len(finished) == 2 and all(t >= int(reset.timestamp()) for t in finished)
    # the other agent was not held behind the paused one: it started before the reset
    other = datetime.fromisoformat(rows[2]["started_at"].replace("Z", "+00:00"))
    assert other < reset


async def test_a_limit_that_never_lifts_fails_the_item_after_max_pauses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ampsm_tui.engine import scheduler
    from ampsm_tui.engine.batch import load_batch
    from ampsm_tui.engine.models import BatchItem, BatchItemStatus
    from ampsm_tui.engine.scheduler import BatchScheduler, ItemFailed, create_batch
    from ampsm_tui.engine.store import Store
    from tests.test_batch_scheduler import write_batch

    monkeypatch.setattr(scheduler, "MAX_PAUSES", 2)
    store = Store(tmp_path / "db.sqlite")
    await store.open()
    try:
        run = await create_batch(store, load_batch(write_batch(tmp_path, 1, 1)), 1)
        calls: list[str] = []

        async def run_item(item: BatchItem) -> BatchItemStatus:
            calls.append(item.id)  # an exhausted quota: the same answer every time, resets "now"
            raise ItemFailed(BatchItemStatus.FAILED, "429 Too Many Requests; Retry-After: 0")

        await BatchScheduler(store, run.id, run_item, poll_interval=0.05).run()
        (item,) = await store.list_batch_items(run.id)
    finally:
        await store.close()
    assert len(calls) == 3 and item.status == BatchItemStatus.FAILED and item.attempts == 1
    assert item.error is not None and item.error.endswith("(still limited after 2 pauses)")
