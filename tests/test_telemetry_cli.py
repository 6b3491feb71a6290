"""metrics, usage and export through the real CLI, against a DB filled with known iterations."""

from __future__ import annotations

import json
from pathlib import Path

from ampsm_tui.engine.config import load_config
from ampsm_tui.engine.store import Store
from tests.conftest import run_cli
from tests.test_telemetry_usage import fill


async def filled() -> list[dict]:  # type: ignore[type-arg]
    store = Store.from_config(load_config())
    await store.open()
    try:
        await fill(store)
        rows = await store._fetchall("SELECT * FROM iterations")
        return [dict(r) for r in rows]
    finally:
        await store.close()


async def test_usage_since_and_by_model_equal_stored_sums() -> None:
    rows = await filled()
    out = run_cli("usage", "--since", "2024-11-03", "--json")
    assert out.returncode == 0, out.stderr
    total = json.loads(out.stdout)["total"]
    picked = [r for r in rows if r["started_at"] >= "2024-11-03"]
    assert total["iterations"] == len(picked)
    assert total["input_tokens"] == sum(r["input_tokens"] for r in picked)
    assert total["output_tokens"] == sum(r["output_tokens"] for r in picked)
    priced = [r["cost_usd"] for r in picked if r["cost_usd"] is not None]
    assert abs(total["cost_usd"] - sum(priced)) < 1e-9

    by = json.loads(run_cli("usage", "--by", "model", "--json").stdout)
    for group in by["rows"]:
        mine = [r for r in rows if (r["model"] or "(unknown)") == group["key"]]
        assert group["input_tokens"] == sum(r["input_tokens"] for r in mine)
        assert group["output_tokens"] == sum(r["output_tokens"] for r in mine)
    assert sum(g["iterations"] for g in by["rows"]) == len(rows)

    model = json.loads(run_cli("usage", "--model", "gpt-5", "--json").stdout)["total"]
    assert model["input_tokens"] == sum(r["input_tokens"] for r in rows if r["model"] == "gpt-5")
    text = run_cli("usage", "--by", "day")
    assert text.returncode == 0 and "2024-11-06" in text.stdout and "total" in text.stdout
    bad = run_cli("usage", "--since", "someday")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --since:")


async def test_export_and_metrics_commands(tmp_path: Path) -> None:
    rows = await filled()
    out = run_cli("export", "--format", "jsonl", "--out", str(tmp_path / "t.jsonl"), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["counts"] == {"sessions": 6, "iterations": len(rows), "tool_calls": 6 * (1 + 2 + 3)}
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(lines) == 6 + len(rows) + 36
    csv_out = run_cli("export", "--format", "csv", "--out", str(tmp_path / "t.csv"), "--since", "2024-11-06")
    assert csv_out.returncode == 0 and (tmp_path / "t.iterations.csv").read_text().count("\n") == 1 + 3

    sid = rows[0]["session_id"]
    m = run_cli("metrics", sid, "--json")
    assert m.returncode == 0, m.stderr
    data = json.loads(m.stdout)
    assert [i["number"] for i in data["iterations"]] == [1, 2, 3]
    assert data["totals"]["tool_calls"] == 6
    table = run_cli("metrics", sid)
    assert table.returncode == 0 and "edit_file×2" in table.stdout and "Bash×1" in table.stdout
    missing = run_cli("metrics", "sess-nothere")
    assert missing.returncode == 2 and "no such session" in missing.stderr


def test_prune_command(isolated_env: Path) -> None:
    out = run_cli("telemetry", "prune", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["tool_calls_deleted"] == 0
