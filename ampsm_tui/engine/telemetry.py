"""Telemetry: per-session metrics, usage reports, exports with stable columns, and retention.

The export columns below are a public contract (documented in docs/events.md): new columns are
appended, none is renamed or removed, so scripts reading the CSV keep working.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from .clock import parse_iso, to_iso, utcnow
from .config import parse_duration
from .errors import UsageError
from .secrets import redact

if TYPE_CHECKING:
    from .config import Config
    from .store import Store

Record = Literal["sessions", "iterations", "tool_calls"]
Format = Literal["jsonl", "csv"]

SESSION_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "repo_path",
    "base_branch",
    "branch",
    "agent",
    "model",
    "status",
    "batch_item_id",
    "created_at",
    "updated_at",
)
ITERATION_COLUMNS: tuple[str, ...] = (
    "id",
    "session_id",
    "number",
    "status",
    "started_at",
    "ended_at",
    "exit_code",
    "commit_sha",
    "files_changed",
    "lines_added",
    "lines_removed",
    "input_tokens",
    "output_tokens",
    "cache_creation_tokens",
    "cache_read_tokens",
    "cost_usd",
    "model",
    "agent",
    "test_exit_code",
    "test_duration_ms",
)
TOOL_CALL_COLUMNS: tuple[str, ...] = (
    "id",
    "iteration_id",
    "session_id",
    "name",
    "args_summary",
    "started_at",
    "duration_ms",
    "ok",
)
COLUMNS: dict[Record, tuple[str, ...]] = {
    "sessions": SESSION_COLUMNS,
    "iterations": ITERATION_COLUMNS,
    "tool_calls": TOOL_CALL_COLUMNS,
}
#: The `record` value of each JSONL line, by table.
RECORD_NAMES: dict[Record, str] = {"sessions": "session", "iterations": "iteration", "tool_calls": "tool_call"}


def recording_enabled(config: Config) -> bool:
    """Whether the runner records token counts and tool calls (sessions and commits always are).

    `telemetry.enabled: false` or AMPSM_DISABLE_TELEMETRY=true (applied by load_config) switch it off."""
    return bool(config.telemetry.enabled)


# -- time ranges --------------------------------------------------------------------------------


def parse_since(text: str | None) -> str | None:
    """`2024-11-01`, a full ISO time, or a duration back from now (`7d`, `24h`) → inclusive bound."""
    if not text:
        return None
    return to_iso(_moment(text, "--since"))


def parse_until(text: str | None) -> str | None:
    """Exclusive upper bound. A bare date means the whole of that day is included."""
    if not text:
        return None
    moment = _moment(text, "--until")
    if _is_date(text):
        moment += timedelta(days=1)
    return to_iso(moment)


def _is_date(text: str) -> bool:
    return len(text.strip()) == 10 and text.strip()[4] == "-"


def _moment(text: str, flag: str) -> datetime:
    text = text.strip()
    try:
        if _is_date(text):
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        moment = parse_iso(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        return utcnow() - timedelta(seconds=parse_duration(text))
    except ValueError:
        raise UsageError(
            f"{flag}: expected a date (2024-11-01), an ISO time or a duration (7d), got {text!r}"
        ) from None


# -- reports ------------------------------------------------------------------------------------


async def usage(
    store: Store,
    *,
    model: str | None = None,
    since: str | None = None,
    until: str | None = None,
    by: Literal["model", "day", "repo"] | None = None,
) -> dict[str, Any]:
    """Rows (one per group) and a total, from the stored iterations."""
    lo, hi = parse_since(since), parse_until(until)
    rows = await store.usage(since=lo, until=hi, model=model, by=by)
    total = (await store.usage(since=lo, until=hi, model=model, by=None)) or [_empty_total()]
    return {"by": by, "since": lo, "until": hi, "model": model, "rows": rows if by else [], "total": total[0]}


def _empty_total() -> dict[str, Any]:
    return {
        "key": "all",
        "iterations": 0,
        "sessions": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_tokens": 0,
        "cache_read_tokens": 0,
        "cost_usd": None,
        "unpriced": 0,
    }


async def session_metrics(store: Store, session_ref: str) -> dict[str, Any]:
    """Per iteration: duration, tokens, cost, tool calls by name, files changed, test result."""
    session = await store.resolve_session(session_ref)
    iterations = await store.list_iterations(session.id)
    tools: dict[int, list[dict[str, Any]]] = {}
    for row in await store.tool_stats(session.id):
        tools.setdefault(int(row["iteration_id"]), []).append(
            {k: row[k] for k in ("name", "calls", "failed", "total_ms", "mean_ms")}
        )
    out: list[dict[str, Any]] = []
    for it in iterations:
        duration_ms = None
        if it.started_at and it.ended_at:
            duration_ms = int((parse_iso(it.ended_at) - parse_iso(it.started_at)).total_seconds() * 1000)
        out.append(
            {
                "number": it.number,
                "status": str(it.status),
                "started_at": it.started_at,
                "duration_ms": duration_ms,
                "input_tokens": it.input_tokens,
                "output_tokens": it.output_tokens,
                "cache_creation_tokens": it.cache_creation_tokens,
                "cache_read_tokens": it.cache_read_tokens,
                "cost_usd": it.cost_usd,
                "model": it.model,
                "commit_sha": it.commit_sha,
                "files_changed": it.files_changed,
                "lines_added": it.lines_added,
                "lines_removed": it.lines_removed,
                "test_exit_code": it.test_exit_code,
                "test_duration_ms": it.test_duration_ms,
                "tools": tools.get(it.id or -1, []),
            }
        )
    priced = [i["cost_usd"] for i in out if i["cost_usd"] is not None]
    totals = {
        "iterations": len(out),
        "input_tokens": sum(i["input_tokens"] for i in out),
        "output_tokens": sum(i["output_tokens"] for i in out),
        "cache_tokens": sum(i["cache_creation_tokens"] + i["cache_read_tokens"] for i in out),
        "cost_usd": sum(priced) if priced else None,
        "unpriced": len(out) - len(priced),
        "tool_calls": sum(t["calls"] for i in out for t in i["tools"]),
    }
    return {"session": session.model_dump(mode="json"), "iterations": out, "totals": totals}


# -- export -------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    return "" if value is None else value


def _private_parents(folder: Path) -> None:
    """Create the missing folders of an export path 0700 (like the DB's); folders the user already
    has are theirs and keep their mode."""
    missing: list[Path] = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)


def _open_private(path: Path, newline: str | None = None) -> IO[str]:
    """An export file is the DB's content: 0600, never briefly world-readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_TRUNC
    return os.fdopen(fd, "w", encoding="utf-8", newline=newline)


def _redacted(row: dict[str, Any]) -> dict[str, Any]:
    """Rows written before URL redaction existed (a webhook with its token) leave redacted too."""
    return {k: redact(v) if isinstance(v, str) else v for k, v in row.items()}


def write_csv(path: Path, columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> int:
    cols = list(columns)
    count = 0
    with _open_private(path, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _cell(row.get(c)) for c in cols})
            count += 1
    return count


async def export(store: Store, fmt: Format, out: Path, *, since: str | None = None) -> dict[str, Any]:
    """JSONL: one file, each line `{"record": "session"|"iteration"|"tool_call", <columns>}`.
    CSV: one file per record type, `<stem>.sessions.csv`, `<stem>.iterations.csv`,
    `<stem>.tool_calls.csv` beside `out`. Returns the files written and their row counts."""
    lo = parse_since(since)
    _private_parents(out.parent)
    counts: dict[str, int] = {}
    files: list[str] = []
    if fmt == "jsonl":
        tmp = out.with_name(out.name + ".tmp")
        with _open_private(tmp) as fh:
            for table, cols in COLUMNS.items():
                n = 0
                async for row in store.export_rows(table, cols, since=lo):
                    row = _redacted(row)
                    fh.write(json.dumps({"record": RECORD_NAMES[table], **row}, ensure_ascii=False) + "\n")
                    n += 1
                counts[table] = n
        os.replace(tmp, out)  # never a half-written export under the final name
        files.append(str(out))
    elif fmt == "csv":
        stem = out.name[: -len(".csv")] if out.name.endswith(".csv") else out.name
        for table, cols in COLUMNS.items():
            target = out.with_name(f"{stem}.{table}.csv")
            rows = [_redacted(row) async for row in store.export_rows(table, cols, since=lo)]
            tmp = target.with_name(target.name + ".tmp")
            counts[table] = write_csv(tmp, cols, rows)
            os.replace(tmp, target)
            files.append(str(target))
    else:
        raise UsageError(f"unknown export format {fmt!r} (jsonl or csv)")
    return {"format": fmt, "files": files, "counts": counts}


# -- retention ----------------------------------------------------------------------------------


async def prune(store: Store, config: Config, *, now: datetime | None = None) -> dict[str, Any]:
    """Drop tool-call rows and raw agent-stream logs older than `telemetry.retention_days`."""
    cutoff = to_iso((now or utcnow()) - timedelta(days=config.telemetry.retention_days))
    deleted, paths = await store.prune_detail(cutoff)
    removed = 0
    for p in paths:
        try:
            Path(p).unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError:
            continue
    return {"cutoff": cutoff, "tool_calls_deleted": deleted, "raw_logs_removed": removed}


PRUNE_EVERY_S = 86400.0


async def maybe_prune(store: Store, config: Config) -> dict[str, Any] | None:
    """`telemetry.retention_days` applied at most once a day, from whatever opens the engine (a
    marker file in the config dir remembers the last run), so old detail never grows without bound."""
    import time

    from .fsperm import private_dir

    marker = config.config_dir / "last-prune"
    try:
        if time.time() - marker.stat().st_mtime < PRUNE_EVERY_S:
            return None
    except FileNotFoundError:
        pass
    result = await prune(store, config)
    if not marker.parent.is_dir():  # ampsm's own folder when it makes it; a user's folder stays theirs
        private_dir(marker.parent)
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(result) + "\n")
    return result
