"""YAML with line numbers: validation errors point at `file:line: key`, never at a dict.

Both the config file and batch files go through here, so every YAML error a user sees has the
same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:  # PyYAML is imported when a YAML file is read: no config file, no cost at startup
    import yaml

M = TypeVar("M", bound=BaseModel)


class YamlSourceError(ValueError):
    """A problem in a YAML file, with where it is."""

    def __init__(self, path: Path | str, line: int | None, key: str | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.key = key
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


def _line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """Follow a pydantic error location through the composed node tree; 1-based line."""
    if node is None:
        return None
    import yaml

    best = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    best = key_node.start_mark.line + 1
                    node = value_node
                    break
            else:
                return best
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            best = node.start_mark.line + 1
        else:
            return best
    return best


def read_text(path: Path, what: str = "file") -> str:
    """The file's text, or a YamlSourceError naming it (unreadable, a directory, not UTF-8)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlSourceError(path, None, None, f"the {what} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise YamlSourceError(path, None, None, f"cannot read the {what}: {exc.strerror or exc}") from None


def load_yaml(path: Path, text: str | None = None) -> tuple[Any, yaml.Node | None]:
    """Parse a file into data and its node tree; a syntax error names the file and line."""
    if text is None:
        text = read_text(path)
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise YamlSourceError(path, line, None, f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise YamlSourceError(path, None, None, f"invalid YAML: {exc}") from None
    return data, node


def validate(model: type[M], data: Any, node: yaml.Node | None, path: Path) -> M:
    """Validate `data` as `model`; the first error becomes a YamlSourceError with its line."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        key = ".".join(str(p) for p in loc) or None
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        return _raise(path, _line_of(node, loc), key, msg)


def _raise(path: Path, line: int | None, key: str | None, msg: str) -> Any:
    raise YamlSourceError(path, line, key, msg)
