"""The batch commands through the real CLI: errors are one line and start nothing; dry-run,
status, list and export read what the scheduler stored."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from ampsm_tui.engine.batch import load_batch
from ampsm_tui.engine.clock import now_iso
from ampsm_tui.engine.config import load_config
from ampsm_tui.engine.models import BatchItem, BatchItemStatus, Iteration, IterationStatus, Session
from ampsm_tui.engine.scheduler import BatchScheduler, create_batch
from ampsm_tui.engine.store import Store
from tests.conftest import run_cli
from tests.test_batch_file import GOOD, make_repo


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    make_repo(ws / "frontend")
    make_repo(ws / "backend")
    return ws


def db_path(home: Path) -> Path:
    return home / "sessions.db"


def batches_in_db(home: Path) -> int:
    if not db_path(home).exists():
        return 0
    with sqlite3.connect(db_path(home)) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM batch_runs").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('description: "two repos"', 'description: "two repos" x"', ":2: invalid YAML"),
        ("    retries: 2", "    retry: 2", ":13: items.0.retry: unknown key"),
        ('path: "backend"', 'path: "../nowhere"', ":6: repos.1.path: no such folder"),
        ("concurrency: 3", "concurrency: -2", ":19: concurrency: Input should be greater than or equal to 1"),
    ],
)
def test_bad_batch_files_give_one_line_and_start_nothing(
    workspace: Path, isolated_env: Path, old: str, new: str, where: str
) -> None:
    f = workspace / "batch.yaml"
    f.write_text(GOOD.replace(old, new))
    out = run_cli("batch", "start", "--file", str(f))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"error: {f}{where}"), lines[0]
    assert out.stdout == ""
    assert batches_in_db(isolated_env) == 0
    for repo in ("frontend", "backend"):
        assert not (workspace / repo / ".worktrees").exists()


def test_bad_concurrency_flag_is_rejected(workspace: Path, isolated_env: Path) -> None:
    f = workspace / "batch.yaml"
    f.write_text(GOOD)
    out = run_cli("batch", "start", "--file", str(f), "--concurrency", "0")
    assert out.returncode == 2 and "--concurrency" in out.stderr and "between 1 and 256" in out.stderr
    assert batches_in_db(isolated_env) == 0


def test_dry_run_prints_the_plan_and_stores_nothing(workspace: Path, isolated_env: Path) -> None:
    f = workspace / "batch.yaml"
    f.write_text(GOOD)
    out = run_cli("batch", "start", "--file", str(f), "--dry-run", "--concurrency", "5", "--json")
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["concurrency"] == 5
    assert [(i["name"], Path(i["repo"]).name) for i in plan["items"]] == [
        ("jwt-auth", "frontend"),
        ("jwt-auth", "backend"),
        ("only-frontend", "frontend"),
    ]
    text = run_cli("batch", "start", "--file", str(f), "--dry-run")
    assert text.returncode == 0 and "3 sessions, concurrency 3" in text.stdout
    assert batches_in_db(isolated_env) == 0


async def _run_stored_batch(workspace: Path) -> str:
    """A batch run by the real scheduler whose run_item stores a session and an iteration
    (what the session service does), so the commands have real rows to read."""
    f = workspace / "batch.yaml"
    f.write_text(GOOD)
    store = Store.from_config(load_config())
    await store.open()
    try:
        plan = load_batch(f)
        run = await create_batch(store, plan, 2)

        async def run_item(item: BatchItem) -> BatchItemStatus:
            s = await store.create_session(
                Session(name=item.name, repo_path=item.repo_path, base_branch=item.base_branch, branch=f"amp/{item.id}")
            )
            await store.update_batch_item(item.id, session_id=s.id)
            await store.create_iteration(
                Iteration(
                    session_id=s.id,
                    number=1,
                    status=IterationStatus.COMPLETED,
                    started_at=now_iso(),
                    ended_at=now_iso(),
                    input_tokens=100 + item.ordinal,
                    output_tokens=10,
                    cost_usd=0.5 if item.ordinal else None,
                    test_exit_code=0 if item.ordinal != 1 else 1,
                )
            )
            return BatchItemStatus.SUCCEEDED if item.ordinal != 1 else BatchItemStatus.FAILED

        await BatchScheduler(store, run.id, run_item).run()
        return run.id
    finally:
        await store.close()


async def test_status_list_and_export_agree(workspace: Path, tmp_path: Path) -> None:
    batch_id = await _run_stored_batch(workspace)
    listed = json.loads(run_cli("batch", "list", "--json").stdout)
    assert [b["id"] for b in listed] == [batch_id]
    assert listed[0]["counts"] == {"succeeded": 2, "failed": 1} and listed[0]["status"] == "done"

    status = run_cli("batch", "status", batch_id[:10], "--json")
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["total"] == 3 and info["finished"] == 3
    assert info["input_tokens"] == 100 + 101 + 102 and info["cost_usd"] == 1.0 and info["unpriced"] == 1
    table = run_cli("batch", "status", batch_id)
    assert table.returncode == 0 and "3/3 finished" in table.stdout and "only-frontend" in table.stdout
    follow = run_cli("batch", "status", batch_id, "--follow")  # ends at once: the batch is done
    assert follow.returncode == 0 and "3/3 finished" in follow.stdout

    for fmt in ("csv", "jsonl"):
        out = run_cli("batch", "export", batch_id, "--format", fmt, "--out", str(tmp_path / "out"), "--json")
        assert out.returncode == 0, out.stderr
        target = Path(json.loads(out.stdout)["file"])
        if fmt == "csv":
            with open(target, newline="") as fh:
                rows = list(csv.DictReader(fh))
        else:
            rows = [json.loads(x) for x in target.read_text().splitlines()]
        assert len(rows) == 3
        for exported, item in zip(rows, info["items"], strict=True):
            assert str(exported["item_id"]) == item["id"]
            assert str(exported["status"]) == item["status"]
            assert str(exported["session_id"]) == item["session_id"]
            assert str(exported["branch"]) == item["branch"] == f"amp/{item['id']}"
            assert str(exported["input_tokens"]) == str(item["input_tokens"])


def test_unknown_batch_id(isolated_env: Path) -> None:
    out = run_cli("batch", "status", "batch-nope")
    assert out.returncode == 2 and out.stderr.strip() == "error: no such batch: batch-nope"
