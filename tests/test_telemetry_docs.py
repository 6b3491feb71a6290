"""docs/events.md stays true: its example runs, and every event field and export column is in it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ampsm_tui.commands.batch import BATCH_ITEM_COLUMNS
from ampsm_tui.engine import events, telemetry

DOC = Path(__file__).resolve().parent.parent / "docs" / "events.md"


def test_bus_example_runs() -> None:
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[0]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "batch batch-1: 12/12 succeeded"


def test_every_event_and_field_is_documented() -> None:
    text = DOC.read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z.]+)` \| (.*) \|$", text, re.M)}
    classes = [c for c in vars(events).values() if isinstance(c, type) and issubclass(c, events.Event)]
    topics = {c.topic: c for c in classes if c is not events.Event}
    assert set(topics) <= set(rows)
    for topic, cls in topics.items():
        for name in cls.model_fields:
            if name != "at":
                assert f"`{name}`" in rows[topic], (topic, name)


def test_every_agent_event_kind_and_field_is_documented() -> None:
    """`agent.event` carries typed events (not dicts): every kind of the union and its fields."""
    import typing

    from ampsm_tui.engine.agents.base import AgentEvent

    text = DOC.read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z_]+)` \| (.*) \|$", text, re.M)}
    union = typing.get_args(AgentEvent)[0]
    kinds = typing.get_args(union)
    assert len(kinds) == 9
    for cls in kinds:
        kind = cls.model_fields["kind"].default
        assert kind in rows, kind
        for name in cls.model_fields:
            if name != "kind":
                assert f"`{name}`" in rows[kind], (kind, name)
    assert events.AgentEventPublished.model_fields["event"].annotation is not dict


def test_export_columns_are_documented_in_order() -> None:
    flat = " ".join(DOC.read_text().split())
    for cols in [*telemetry.COLUMNS.values(), BATCH_ITEM_COLUMNS]:
        assert ", ".join(cols) in flat.replace("`", ""), cols
