"""`flat_json`, the one-line JSON of the lean commands' `--json`, is `json.dumps`'s text exactly,
and declines (None) whatever it does not write itself."""

from __future__ import annotations

import json
import math
import random

from ampsm_tui.commands.context import flat_json

TRICKY = [
    "",
    "plain",
    'quote " and back\\slash',
    "tab\tnew\nline\r\x00\x01\x1f\x7f",
    "ünïcödé ✓ 日本 \U0001f600",
    "\u2028\u2029",
    "\ud800 lone surrogate",
    "</script>",
]


def test_flat_objects_are_written_as_json_writes_them() -> None:
    rng = random.Random(17)
    values: list[object] = [*TRICKY, None, True, False, 0, -5, 2**70, 1.5, -0.0, 1e300, 3.0, [], TRICKY]
    for _ in range(300):
        data = {rng.choice(TRICKY) + str(i): rng.choice(values) for i in range(rng.randrange(0, 8))}
        assert flat_json(data) == json.dumps(data, ensure_ascii=False)


def test_a_session_row_is_written_as_json_writes_it() -> None:
    row = {"id": "sess-0a1b2c3d", "name": "fix \"the\" bug", "timeout_s": 12.5, "pid": None, "last_test_exit": 0,
           "overlaps": []}  # fmt: skip
    assert json.loads(flat_json(row) or "") == row and flat_json(row) == json.dumps(row, ensure_ascii=False)


def test_what_it_does_not_write_is_left_to_json() -> None:
    for data in (
        [1, 2],
        {"a": {"b": 1}},
        {"a": (1,)},
        {"a": [1]},
        {1: "int key"},
        {"a": math.nan},
        {"a": math.inf},
        {"a": object()},
    ):
        assert flat_json(data) is None, data
