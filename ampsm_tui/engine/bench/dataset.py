"""SWE-bench instances from local `.json`/`.jsonl` files.

An instance keeps every field it came with (5.x datasets add `image`, `eval_script`, `log_parser`,
`eval_type`, and tools add their own), so writing it back loses nothing.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import UsageError


class Instance(BaseModel):
    """One task. FAIL_TO_PASS/PASS_TO_PASS are JSON-encoded strings in the official datasets; a
    real list is accepted too, and both become lists here."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    instance_id: str
    repo: str = ""
    base_commit: str
    patch: str = ""
    test_patch: str = ""
    problem_statement: str = ""
    hints_text: str = ""
    created_at: str = ""
    version: str = ""
    FAIL_TO_PASS: list[str] = Field(default_factory=list)
    PASS_TO_PASS: list[str] = Field(default_factory=list)
    environment_setup_commit: str = ""
    image: str | None = None
    eval_script: str | None = None
    log_parser: str | None = None
    eval_type: str | None = None

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        if value is None or value == "":
            return []
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list of test names: {exc}") from None
        return value

    @property
    def extra(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def to_official(self) -> dict[str, Any]:
        """The official row shape: test lists as JSON strings, unset optional 5.x keys left out."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["FAIL_TO_PASS"] = json.dumps(self.FAIL_TO_PASS)
        data["PASS_TO_PASS"] = json.dumps(self.PASS_TO_PASS)
        return data


def _rows(path: Path) -> Iterable[tuple[str, Any]]:
    """(where, row) pairs so that a bad row is reported as `file:line`."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                yield f"{path}:{number}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if isinstance(data, dict):  # keyed by instance id, like the dict form of predictions
        data = list(data.values())
    if not isinstance(data, list):
        raise UsageError(f"{path}: expected a list of instances (or a dict keyed by instance_id)")
    for index, row in enumerate(data):
        yield f"{path}[{index}]", row


def read_instances(path: Path | str) -> list[Instance]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"dataset not found: {path}")
    if path.suffix not in (".json", ".jsonl"):
        raise UsageError(f"dataset must be .json or .jsonl: {path}")
    instances: list[Instance] = []
    seen: set[str] = set()
    for where, row in _rows(path):
        if not isinstance(row, dict):
            raise UsageError(f"{where}: an instance must be a JSON object")
        try:
            inst = Instance.model_validate(row)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            raise UsageError(f"{where}: {key}: {err['msg']}") from None
        if inst.instance_id in seen:
            raise UsageError(f"{where}: duplicate instance_id {inst.instance_id}")
        seen.add(inst.instance_id)
        instances.append(inst)
    return instances


def select(
    instances: list[Instance],
    *,
    instance_ids: list[str] | None = None,
    limit: int | None = None,
    shuffle: bool = False,
    seed: int | None = None,
) -> list[Instance]:
    """Filter by ids (unknown ids are an error, as in the official harness), then shuffle with a
    seeded generator (the same seed gives the same order on every machine), then cut to `limit`."""
    chosen = list(instances)
    if instance_ids:
        wanted = list(dict.fromkeys(instance_ids))
        known = {i.instance_id for i in chosen}
        missing = [i for i in wanted if i not in known]
        if missing:
            raise UsageError(f"instance ids not in the dataset: {', '.join(missing)}")
        keep = set(wanted)
        chosen = [i for i in chosen if i.instance_id in keep]
    if shuffle:
        random.Random(seed).shuffle(chosen)
    if limit is not None:
        if limit < 0:
            raise UsageError("--limit must be >= 0")
        chosen = chosen[:limit]
    return chosen


def load_dataset(
    path: Path | str,
    *,
    instance_ids: list[str] | None = None,
    limit: int | None = None,
    shuffle: bool = False,
    seed: int | None = None,
) -> list[Instance]:
    return select(read_instances(path), instance_ids=instance_ids, limit=limit, shuffle=shuffle, seed=seed)


def write_instances(path: Path | str, instances: Iterable[Instance]) -> Path:
    path = Path(path)
    rows = [i.to_official() for i in instances]
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return path
