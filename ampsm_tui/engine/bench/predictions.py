"""Predictions `{"instance_id", "model_name_or_path", "model_patch"}`, read and written in the
three shapes the official harness accepts: `.jsonl`, `.json` list, `.json` dict keyed by id
(the dict form is what SWE-agent writes)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..errors import UsageError
from .dataset import Instance

GOLD = "gold"


class Prediction(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    instance_id: str
    model_name_or_path: str = "None"
    model_patch: str | None = None

    @property
    def is_empty(self) -> bool:
        """Empty predictions are never run (the official harness counts them apart)."""
        return self.model_patch in ("", None)

    @property
    def log_name(self) -> str:
        """The directory name the official harness uses for this model."""
        return model_dir_name(self.model_name_or_path)


def model_dir_name(model_name_or_path: str) -> str:
    return model_name_or_path.replace("/", "__")


def gold_predictions(instances: Iterable[Instance]) -> dict[str, Prediction]:
    return {
        i.instance_id: Prediction(instance_id=i.instance_id, model_name_or_path=GOLD, model_patch=i.patch)
        for i in instances
    }


def read_predictions(path: Path | str) -> dict[str, Prediction]:
    """Predictions keyed by instance id; a later duplicate wins, as in the official harness."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"predictions file not found: {path}")
    text = path.read_text(encoding="utf-8")
    rows: list[Any]
    if path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
    elif path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        if isinstance(data, dict):
            data = list(data.values())
        if not isinstance(data, list):
            raise UsageError(f"{path}: predictions must be a list or a dict keyed by instance_id")
        rows = data
    else:
        raise UsageError(f"predictions must be .json or .jsonl: {path}")
    out: dict[str, Prediction] = {}
    for row in rows:
        if not isinstance(row, dict) or "instance_id" not in row:
            raise UsageError(f"{path}: every prediction must be an object with an instance_id")
        pred = Prediction.model_validate(row)
        out[pred.instance_id] = pred
    return out


def write_predictions(
    path: Path | str, predictions: Iterable[Prediction], *, shape: Literal["auto", "list", "dict"] = "auto"
) -> Path:
    """Atomically (temp file + rename): a crash never leaves half a predictions file."""
    path = Path(path)
    rows = [p.model_dump(mode="json") for p in predictions]
    if path.suffix == ".jsonl":
        text = "".join(json.dumps(r) + "\n" for r in rows)
    elif shape == "dict":
        text = json.dumps({r["instance_id"]: r for r in rows}, indent=2) + "\n"
    else:
        text = json.dumps(rows, indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
