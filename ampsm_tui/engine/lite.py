"""Run-time stand-ins for `typing.NamedTuple`, `overload` and `cast`, `enum.StrEnum` and
`functools.cached_property`, for the modules that the lean command paths (`ampsm new`, `squash`,
`merge`, `list --json`) import.

Why: `import typing` cost 5 ms of a lean `ampsm new` that should cost little more than git's own
work (issue 17), and `enum`, `functools` and `collections` (which import one another, `re`,
`operator`, `keyword`, `reprlib`...) as much again; nothing else those paths import needs them.
Type checkers read the real names, and the program gets these, through the pattern

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple, overload
    else:
        from ampsm_tui.engine.lite import NamedTuple, overload

(mypy treats any `TYPE_CHECKING` name as true). `tests/test_lite.py` holds these to the standard
library's own behaviour; the lean tests check that `typing` stays out of those commands.
"""

from __future__ import annotations

import sys
from _collections import _tuplegetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    F = TypeVar("F")

#: What a NamedTuple class body may not define (typing's own list): namedtuple makes them.
_PROHIBITED = frozenset(
    {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults", "_make", "_replace", "_asdict"}
)
_SPECIAL = frozenset({"__module__", "__qualname__", "__annotations__", "__doc__"})


#: What `_replace` with an unknown field raises: collections' ValueError became a TypeError in 3.13.
_REPLACE_ERROR: type[Exception] = TypeError if sys.version_info >= (3, 13) else ValueError


def namedtuple(typename: str, field_names: list[str], *, defaults: list[Any], module: str) -> Any:
    """`collections.namedtuple(typename, field_names, defaults=defaults, module=module)` for the
    identifiers of a class body, without importing `collections` (its import pulls in `keyword`,
    `operator`, `reprlib`, `itertools`): the same class, built as collections builds it."""
    for name in field_names:
        if name.startswith("_"):
            raise ValueError(f"Field names cannot start with an underscore: {name!r}")
    fields = tuple(map(sys.intern, field_names))
    num_fields = len(fields)
    defaults_t = tuple(defaults)
    field_defaults = dict(zip(fields[num_fields - len(defaults_t) :], defaults_t, strict=True)) if defaults_t else {}
    arg_list = ", ".join(fields)
    if num_fields == 1:
        arg_list += ","
    repr_fmt = "(" + ", ".join(f"{name}=%r" for name in fields) + ")"
    tuple_new = tuple.__new__
    namespace = {"_tuple_new": tuple_new, "__builtins__": {}, "__name__": f"namedtuple_{typename}"}
    __new__ = eval(f"lambda _cls, {arg_list}: _tuple_new(_cls, ({arg_list}))", namespace)
    __new__.__name__ = "__new__"
    __new__.__doc__ = f"Create new instance of {typename}({arg_list})"
    __new__.__defaults__ = defaults_t  # collections leaves None for an empty list: () is the same

    def _make(cls: type, iterable: Any) -> Any:
        result: Any = tuple_new(cls, iterable)
        if len(result) != num_fields:
            raise TypeError(f"Expected {num_fields} arguments, got {len(result)}")
        return result

    _make.__doc__ = f"Make a new {typename} object from a sequence or iterable"

    def _replace(self: Any, /, **kwds: Any) -> Any:
        result = self._make(map(kwds.pop, fields, self))
        if kwds:
            raise _REPLACE_ERROR(f"Got unexpected field names: {list(kwds)!r}")
        return result

    _replace.__doc__ = f"Return a new {typename} object replacing specified fields with new values"

    def __repr__(self: Any) -> str:
        "Return a nicely formatted representation string"
        return self.__class__.__name__ + repr_fmt % self

    def _asdict(self: Any) -> dict[str, Any]:
        "Return a new dict which maps field names to their values."
        return dict(zip(self._fields, self, strict=False))

    def __getnewargs__(self: Any) -> tuple[Any, ...]:
        "Return self as a plain tuple.  Used by copy and pickle."
        return tuple(self)

    for method in (__new__, _make, _replace, __repr__, _asdict, __getnewargs__):
        method.__qualname__ = f"{typename}.{method.__name__}"
    class_namespace: dict[str, Any] = {
        "__doc__": f"{typename}({arg_list})",
        "__slots__": (),
        "_fields": fields,
        "_field_defaults": field_defaults,
        "__new__": __new__,
        "_make": classmethod(_make),
        "_replace": _replace,
        "__repr__": __repr__,
        "_asdict": _asdict,
        "__getnewargs__": __getnewargs__,
        "__match_args__": fields,
    }
    for index, name in enumerate(fields):
        class_namespace[name] = _tuplegetter(index, sys.intern(f"Alias for field number {index}"))
    result = type(typename, (tuple,), class_namespace)
    result.__module__ = module
    return result


class _NamedTupleMeta(type):
    """Builds a named tuple class from a class body, as `typing.NamedTuple` does: the annotated
    names are the fields, their values the defaults, everything else (methods, properties,
    constants) is copied onto the tuple class."""

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
        cls = namedtuple(name, fields, defaults=defaults, module=ns["__module__"])
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
    """Subclass it as `typing.NamedTuple` (the class made is a plain tuple class, as
    `collections.namedtuple` makes it)."""


def overload(func: F) -> F:
    """`typing.overload` at run time: the implementation defined last is what stays."""
    return func


def cast(typ: object, value: Any) -> Any:
    """`typing.cast`: the value, unchanged."""
    return value


class cached_property:
    """`functools.cached_property`: computed on first access, then the instance's own attribute
    (the value is stored in the instance's `__dict__` under the same name)."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.attrname: str | None = None
        self.__doc__ = func.__doc__
        self.__module__ = func.__module__

    def __set_name__(self, owner: type, name: str) -> None:
        if self.attrname is None:
            self.attrname = name
        elif name != self.attrname:
            raise TypeError(
                f"Cannot assign the same cached_property to two different names ({self.attrname!r} and {name!r})."
            )

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        if self.attrname is None:
            raise TypeError("Cannot use cached_property instance without calling __set_name__ on it.")
        try:
            cache = instance.__dict__
        except AttributeError:
            raise TypeError(
                f"No '__dict__' attribute on {type(instance).__name__!r} instance to cache {self.attrname!r} property."
            ) from None
        value = cache.get(self.attrname, _MISSING)
        if value is _MISSING:
            value = cache[self.attrname] = self.func(instance)
        return value


_MISSING = object()


class _StrEnumType(type):
    """Makes a `StrEnum` subclass's string constants its members, as `enum.EnumType` does."""

    _member_map_: dict[str, Any]
    _member_names_: list[str]
    _value2member_map_: dict[str, Any]

    def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
        for base in bases:
            if getattr(base, "_member_map_", None):
                raise TypeError(f"<enum {name!r}> cannot extend <enum {base.__name__!r}>")
        values = {k: v for k, v in ns.items() if not k.startswith("_") and not hasattr(v, "__get__")}
        for key in values:
            del ns[key]
        ns.setdefault("__doc__", None)
        cls = super().__new__(mcs, name, bases, ns)
        members: dict[str, Any] = {}
        by_value: dict[str, Any] = {}
        for key, value in values.items():
            if not isinstance(value, str):
                raise TypeError(f"{value!r} is not a string")
            if value in by_value:  # an alias, as in enum
                members[key] = by_value[value]
                continue
            member: Any = str.__new__(cls, value)  # type: ignore[arg-type]
            member._value_ = str(value)
            member._name_ = key
            members[key] = by_value[value] = member
        type.__setattr__(cls, "_member_map_", members)
        type.__setattr__(cls, "_member_names_", [k for k, m in members.items() if m._name_ == k])
        type.__setattr__(cls, "_value2member_map_", by_value)
        for key, member in members.items():
            type.__setattr__(cls, key, member)
        return cls

    def __call__(cls, value: Any) -> Any:
        try:
            return cls._value2member_map_[value]
        except (KeyError, TypeError):
            pass
        if isinstance(value, cls):
            return value
        raise ValueError(f"{value!r} is not a valid {cls.__qualname__}")

    def __iter__(cls) -> Any:
        return (cls._member_map_[name] for name in cls._member_names_)

    def __reversed__(cls) -> Any:
        return (cls._member_map_[name] for name in reversed(cls._member_names_))

    def __len__(cls) -> int:
        return len(cls._member_names_)

    def __contains__(cls, member: object) -> bool:
        if not isinstance(member, StrEnum):
            raise TypeError(
                f"unsupported operand type(s) for 'in': {type(member).__qualname__!r} and {type(cls).__qualname__!r}"
            )
        return isinstance(member, cls) and member._name_ in cls._member_map_

    def __getitem__(cls, name: str) -> Any:
        return cls._member_map_[name]

    @property
    def __members__(cls) -> dict[str, Any]:
        from types import MappingProxyType

        return MappingProxyType(cls._member_map_)  # type: ignore[return-value]  # read-only, as enum's

    def __bool__(cls) -> bool:
        return True

    def __repr__(cls) -> str:
        return f"<enum {cls.__name__!r}>"

    def __setattr__(cls, name: str, value: Any) -> None:
        if name in cls.__dict__.get("_member_map_", ()):
            raise AttributeError(f"cannot reassign member {name!r}")
        super().__setattr__(name, value)

    def __delattr__(cls, name: str) -> None:
        if name in cls.__dict__.get("_member_map_", ()):
            raise AttributeError(f"{cls.__name__}: cannot delete Enum member.")
        super().__delattr__(name)


class StrEnum(str, metaclass=_StrEnumType):
    """`enum.StrEnum` for a class of string constants: each member is a `str` equal to its value,
    with `.name` and `.value`; the class is called with a value for its member (ValueError for
    any other), iterated in definition order, and members pickle and copy as themselves."""

    _name_: str
    _value_: str

    @property
    def name(self) -> str:
        return self._name_

    @property
    def value(self) -> str:
        return self._value_

    def __repr__(self) -> str:
        return f"<{type(self).__name__}.{self._name_}: {self._value_!r}>"

    __str__ = str.__str__
    __format__ = str.__format__
    __hash__ = str.__hash__

    def __reduce_ex__(self, proto: Any) -> tuple[Any, ...]:
        return (type(self), (self._value_,))

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: Any) -> Any:
        return self
