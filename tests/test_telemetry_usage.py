"""Usage, metrics, export and retention over a real SQLite store filled with varied iterations."""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ampsm_tui.engine import telemetry
from ampsm_tui.engine.clock import to_iso
from ampsm_tui.engine.config import load_config
from ampsm_tui.engine.models import Iteration, IterationStatus, Session, ToolCall
from ampsm_tui.engine.store import Store

BASE = datetime.fromisoformat("2024-11-01T10:00:00+00:00")
MODELS = ["gpt-5", "claude-sonnet", None]


async def fill(store: Store, seed: int = 7) -> None:
    rng = random.Random(seed)
    for n in range(6):
        s = Session(
            name=f"s{n}",
            repo_path=f"/repos/r{n % 3}",
            base_branch="main",
            created_at=to_iso(BASE + timedelta(days=n)),
        )
        await store.create_session(s)
        for k in range(1, 4):
            started = BASE + timedelta(days=n, hours=k)
            it = await store.create_iteration(
                Iteration(
                    session_id=s.id,
                    number=k,
                    status=IterationStatus.COMPLETED,
                    started_at=to_iso(started),
                    ended_at=to_iso(started + timedelta(seconds=30 + k)),
                    input_tokens=rng.randint(0, 5000),
                    output_tokens=rng.randint(0, 900),
                    cache_creation_tokens=rng.randint(0, 50),
                    cache_read_tokens=rng.randint(0, 3000),
                    cost_usd=None if rng.random() < 0.3 else round(rng.random(), 4),
                    model=MODELS[(n + k) % 3],
                    files_changed=k,
                    test_exit_code=k % 2,
                )
            )
            assert it.id is not None
            for t in range(k):
                await store.add_tool_call(
                    ToolCall(
                        iteration_id=it.id,
                        session_id=s.id,
                        name=["edit_file", "Bash"][t % 2],
                        args_summary=f'arg,{t}\n"quoted"',
                        started_at=to_iso(started + timedelta(seconds=t)),
                        duration_ms=100 * (t + 1),
                        ok=t != 1,
                    )
                )


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "db.sqlite")
    await s.open()
    await fill(s)
    yield s
    await s.close()


async def all_iterations(store: Store) -> list[dict[str, Any]]:
    rows = await store._fetchall("SELECT i.*, s.repo_path FROM iterations i JOIN sessions s ON s.id = i.session_id")
    return [dict(r) for r in rows]


def sums(rows: list[dict[str, Any]]) -> dict[str, Any]:
    priced = [r["cost_usd"] for r in rows if r["cost_usd"] is not None]
    return {
        "iterations": len(rows),
        "input_tokens": sum(r["input_tokens"] for r in rows),
        "output_tokens": sum(r["output_tokens"] for r in rows),
        "cache_read_tokens": sum(r["cache_read_tokens"] for r in rows),
        "cost_usd": pytest.approx(sum(priced)) if priced else None,
        "unpriced": len(rows) - len(priced),
    }


def pick(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: row[k] for k in ("iterations", "input_tokens", "output_tokens", "cache_read_tokens", "cost_usd", "unpriced")
    }


async def test_usage_totals_equal_the_sums_of_stored_iterations(store: Store) -> None:
    rows = await all_iterations(store)
    report = await telemetry.usage(store)
    assert pick(report["total"]) == sums(rows)

    since = await telemetry.usage(store, since="2024-11-03")
    assert pick(since["total"]) == sums([r for r in rows if r["started_at"] >= "2024-11-03"])
    window = await telemetry.usage(store, since="2024-11-02", until="2024-11-04")  # until: whole day included
    assert pick(window["total"]) == sums([r for r in rows if "2024-11-02" <= r["started_at"][:10] <= "2024-11-04"])

    by_model = await telemetry.usage(store, by="model")
    expected = {}
    for m in {r["model"] for r in rows}:
        expected[m or "(unknown)"] = sums([r for r in rows if r["model"] == m])
    assert {r["key"]: pick(r) for r in by_model["rows"]} == expected
    assert sum(r["input_tokens"] for r in by_model["rows"]) == by_model["total"]["input_tokens"]

    one = await telemetry.usage(store, model="gpt-5", since="2024-11-02")
    assert pick(one["total"]) == sums([r for r in rows if r["model"] == "gpt-5" and r["started_at"] >= "2024-11-02"])

    by_day = await telemetry.usage(store, by="day")
    assert [r["key"] for r in by_day["rows"]] == [f"2024-11-0{d}" for d in range(1, 7)]
    by_repo = await telemetry.usage(store, by="repo")
    assert {r["key"]: r["sessions"] for r in by_repo["rows"]} == {"/repos/r0": 2, "/repos/r1": 2, "/repos/r2": 2}


async def test_usage_with_nothing_matching_is_zero_and_unpriced(store: Store) -> None:
    report = await telemetry.usage(store, since="2030-01-01")
    assert report["total"]["iterations"] == 0 and report["total"]["cost_usd"] is None


def test_date_parsing_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from ampsm_tui.engine.errors import UsageError

    assert telemetry.parse_since("2024-11-01") == "2024-11-01T00:00:00.000Z"
    assert telemetry.parse_until("2024-11-01") == "2024-11-02T00:00:00.000Z"
    assert telemetry.parse_until("2024-11-01T05:00:00Z") == "2024-11-01T05:00:00.000Z"
    monkeypatch.setenv("AMPSM_FIXED_NOW", "2024-11-10T00:00:00+00:00")
    assert telemetry.parse_since("7d") == "2024-11-03T00:00:00.000Z"
    with pytest.raises(UsageError, match="--since"):
        telemetry.parse_since("last tuesday")


async def test_jsonl_export_round_trips_every_row_once(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "exp" / "all.jsonl"
    result = await telemetry.export(store, "jsonl", out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    for table, record in telemetry.RECORD_NAMES.items():
        got = [line for line in lines if line["record"] == record]
        assert all(list(g)[1:] == list(telemetry.COLUMNS[table]) for g in got)  # documented columns, in order
        db = [dict(r) for r in await store._fetchall(f"SELECT * FROM {table}")]
        assert len(got) == len(db) == result["counts"][table]
        key = "id"
        by_id = {g[key]: g for g in got}
        assert len(by_id) == len(got)  # each row once
        for row in db:
            exported = by_id[row[key]]
            for col in telemetry.COLUMNS[table]:
                assert exported[col] == row.get(col), (table, col)


async def test_csv_export_round_trips_and_since_filters(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "usage.csv"
    result = await telemetry.export(store, "csv", out)
    assert sorted(Path(f).name for f in result["files"]) == [
        "usage.iterations.csv",
        "usage.sessions.csv",
        "usage.tool_calls.csv",
    ]
    for table, cols in telemetry.COLUMNS.items():
        with open(tmp_path / f"usage.{table}.csv", newline="") as fh:
            reader = csv.DictReader(fh)
            assert tuple(reader.fieldnames or ()) == cols
            got = list(reader)
        db = [dict(r) for r in await store._fetchall(f"SELECT * FROM {table} ORDER BY id")]
        assert len(got) == len(db)
        by_id = {g["id"]: g for g in got}
        for row in db:
            exported = by_id[str(row["id"])]
            for col in cols:
                value = row.get(col)
                assert exported[col] == ("" if value is None else str(value)), (table, col)
    later = await telemetry.export(store, "csv", tmp_path / "later.csv", since="2024-11-04")
    n = len(await store._fetchall("SELECT id FROM iterations WHERE started_at >= '2024-11-04'"))
    assert later["counts"]["iterations"] == n and 0 < n < 18
    assert later["counts"]["sessions"] == 3


async def test_metrics_per_iteration(store: Store) -> None:
    session = (await store.list_sessions())[-1]  # the oldest
    m = await telemetry.session_metrics(store, session.id[:9])
    its = m["iterations"]
    assert [i["number"] for i in its] == [1, 2, 3]
    assert [i["duration_ms"] for i in its] == [31000, 32000, 33000]
    third = its[2]["tools"]
    assert {t["name"]: (t["calls"], t["failed"], t["total_ms"]) for t in third} == {
        "edit_file": (2, 0, 100 + 300),
        "Bash": (1, 1, 200),
    }
    assert m["totals"]["tool_calls"] == 1 + 2 + 3
    assert m["totals"]["input_tokens"] == sum(i["input_tokens"] for i in its)


async def test_retention_prunes_old_tool_calls_and_raw_logs_only(store: Store, tmp_path: Path) -> None:
    cfg = load_config()
    cfg.telemetry.retention_days = 5
    raw = tmp_path / "old.jsonl"
    raw.write_text("{}\n")
    first = (await all_iterations(store))[0]
    await store.update_iteration(first["id"], raw_log_path=str(raw))
    before_tokens = (await telemetry.usage(store))["total"]["input_tokens"]
    now = BASE + timedelta(days=8)  # cutoff: 3 days after BASE
    result = await telemetry.prune(store, cfg, now=now)
    cutoff = to_iso(now - timedelta(days=5))
    left = await store._fetchall("SELECT started_at FROM tool_calls")
    assert left and all(r[0] >= cutoff for r in left)
    assert result["tool_calls_deleted"] == 3 * (1 + 2 + 3)
    assert not raw.exists() and result["raw_logs_removed"] == 1
    assert (await telemetry.usage(store))["total"]["input_tokens"] == before_tokens  # totals are kept


def test_recording_switch(monkeypatch: pytest.MonkeyPatch, isolated_env: Path) -> None:
    assert telemetry.recording_enabled(load_config())
    monkeypatch.setenv("AMPSM_DISABLE_TELEMETRY", "true")
    assert not telemetry.recording_enabled(load_config())
    monkeypatch.delenv("AMPSM_DISABLE_TELEMETRY")
    (isolated_env / "config.yaml").write_text("telemetry:\n  enabled: false\n")
    assert not telemetry.recording_enabled(load_config())
