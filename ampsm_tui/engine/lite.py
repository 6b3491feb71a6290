"""Run-time stand-ins for `typing.NamedTuple`, `overload` and `cast`, for the modules that the lean
command paths (`ampsm new`, `squash`, `merge`, `list --json`) import.

Why: `import typing` cost 5 ms of a lean `ampsm new` that should cost little more than git's own
work (issue 17); nothing else those paths import needs it. Type checkers read the real names, and
the program gets these, through the pattern

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple, overload
    else:
        from ampsm_tui.engine.lite import NamedTuple, overload

(mypy treats any `TYPE_CHECKING` name as true). `tests/test_lite.py` holds these to typing's own
behaviour; the lean tests check that `typing` stays out of those commands.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    F = TypeVar("F")

#: What a NamedTuple class body may not define (typing's own list): namedtuple makes them.
_PROHIBITED = frozenset(
    {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults", "_make", "_replace", "_asdict"}
)
_SPECIAL = frozenset({"__module__", "__qualname__", "__annotations__", "__doc__"})


class _NamedTupleMeta(type):
    """Builds `collections.namedtuple` from a class body, as `typing.NamedTuple` does: the
    annotated names are the fields, their values the defaults, everything else (methods,
    properties, constants) is copied onto the tuple class."""

    def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
        if not bases:  # `NamedTuple` itself
            return super().__new__(mcs, name, bases, ns)
        if bases != (NamedTuple,):
            raise TypeError("a NamedTuple class can only inherit from NamedTuple")
        annotations = ns.get("__annotations__")
        if annotations is None:
            raise TypeError(
                f"{name}: the lean NamedTuple reads __annotations__ (use `from __future__ import annotations`)"
            )
        fields = list(annotations)
        defaults = []
        for field in fields:
            if field in ns:
                defaults.append(ns[field])
            elif defaults:
                raise TypeError(f"Non-default namedtuple field {field} cannot follow default field(s) {fields[0]}")
        cls = namedtuple(name, fields, defaults=defaults, module=ns["__module__"])  # type: ignore[misc]
        cls.__annotations__ = dict(annotations)
        cls.__qualname__ = ns.get("__qualname__", name)
        if ns.get("__doc__") is not None:
            cls.__doc__ = ns["__doc__"]
        for key, value in ns.items():
            if key in _PROHIBITED:
                raise AttributeError(f"Cannot overwrite NamedTuple attribute {key}")
            if key not in _SPECIAL and key not in annotations:
                setattr(cls, key, value)
                set_name = getattr(type(value), "__set_name__", None)
                if set_name is not None:  # a cached_property, say
                    set_name(value, cls, key)
        return cls


class NamedTuple(metaclass=_NamedTupleMeta):
    """Subclass it as `typing.NamedTuple` (the class made is a plain `collections.namedtuple`)."""


def overload(func: F) -> F:
    """`typing.overload` at run time: the implementation defined last is what stays."""
    return func


def cast(typ: object, value: Any) -> Any:
    """`typing.cast`: the value, unchanged."""
    return value
