"""The run-time stand-ins for typing's NamedTuple, overload and cast (engine/lite.py) behave as
typing's own for everything the lean modules do with them."""

from __future__ import annotations

import copy
import enum
import json
import pickle
import sys
import typing

import pytest

from ampsm_tui.engine import lite


def _pair(base: type) -> type:
    class Point(base):  # type: ignore[valid-type, misc]
        """A point."""

        x: int
        y: int = 0
        label: str = "p"

        LIMIT = 10

        @property
        def total(self) -> int:
            return self.x + self.y

        def moved(self, dx: int) -> Point:
            return self._replace(x=self.x + dx)

    return Point


def test_a_lean_named_tuple_is_typings_named_tuple() -> None:
    Ours, Typing = _pair(lite.NamedTuple), _pair(typing.NamedTuple)
    for cls in (Ours, Typing):
        p = cls(3)
        assert p == (3, 0, "p") and p.total == 3 and p.moved(2) == (5, 0, "p")
        assert cls._fields == ("x", "y", "label") and cls._field_defaults == {"y": 0, "label": "p"}
        assert p._asdict() == {"x": 3, "y": 0, "label": "p"} and cls._make([1, 2, "q"]).label == "q"
        assert cls.LIMIT == 10 and cls.__doc__ == "A point."
        x, y, label = cls(1, 2, "z")
        assert (x, y, label) == (1, 2, "z")
        assert list(cls.__annotations__) == ["x", "y", "label"]
        assert tuple in cls.__mro__
        with pytest.raises(AttributeError):
            p.x = 4  # type: ignore[misc]
        with pytest.raises(TypeError):
            cls()
    assert repr(Ours(1, 2)) == repr(Typing(1, 2)) == "Point(x=1, y=2, label='p')"
    assert Ours.__qualname__ == Typing.__qualname__
    assert Ours.__module__ == Typing.__module__ == __name__


def test_lean_named_tuples_pickle_as_typings_do() -> None:
    from ampsm_tui.engine.git.runner import GitResult

    res = GitResult(("status",), 0, "out\n", "")
    assert pickle.loads(pickle.dumps(res)) == res and res.ok and res.out == "out"


def test_a_lean_named_tuple_refuses_what_typing_refuses() -> None:
    for base in (lite.NamedTuple, typing.NamedTuple):
        with pytest.raises(TypeError, match="Non-default namedtuple field"):

            class Bad(base):  # type: ignore[valid-type, misc]
                a: int = 1
                b: int

        with pytest.raises(AttributeError, match="_replace"):

            class Clash(base):  # type: ignore[valid-type, misc]
                a: int

                def _replace(self) -> None: ...


def test_overload_and_cast_leave_the_implementation_and_the_value() -> None:
    @lite.overload
    def f(x: int) -> int: ...
    @lite.overload
    def f(x: str) -> str: ...
    def f(x: object) -> object:
        return x

    assert f(3) == 3 and f("a") == "a"
    value = object()
    assert lite.cast(int, value) is value


def test_a_lean_named_tuple_is_built_as_collections_builds_it() -> None:
    import collections

    Ours = lite.namedtuple("Pair", ["a", "b"], defaults=[2], module=__name__)
    Theirs = collections.namedtuple("Pair", ["a", "b"], defaults=[2], module=__name__)  # type: ignore[misc]
    One = lite.namedtuple("One", ["a"], defaults=[], module=__name__)
    assert One(1) == (1,) and repr(One(1)) == "One(a=1)" and One._field_defaults == {}
    for cls in (Ours, Theirs):
        p = cls(1)
        assert p == (1, 2) and p.a == 1 and p[1] == 2 and repr(p) == "Pair(a=1, b=2)"
        assert cls._fields == ("a", "b") and cls._field_defaults == {"b": 2} and cls.__match_args__ == ("a", "b")
        assert p._replace(b=5) == (1, 5) and p._asdict() == {"a": 1, "b": 2} and p.__getnewargs__() == (1, 2)
        assert cls.__doc__ == "Pair(a, b)" and cls.__new__.__doc__ == "Create new instance of Pair(a, b)"
        assert cls._replace.__qualname__ == "Pair._replace" and cls.a.__doc__ == "Alias for field number 0"
        assert not hasattr(p, "__dict__") and cls.__module__ == __name__
        with pytest.raises(TypeError, match="Expected 2 arguments, got 3"):
            cls._make([1, 2, 3])
        with pytest.raises((ValueError, TypeError), match=r"Got unexpected field names: \['c'\]") as info:
            p._replace(c=1)
        assert info.type is (TypeError if sys.version_info >= (3, 13) else ValueError)  # as collections, per version
        with pytest.raises(TypeError):
            cls(1, 2, 3)
        with pytest.raises(TypeError):
            cls(1, a=2)
    for bad in (["_a"], ["a", "_b"]):
        with pytest.raises(ValueError, match="underscore"):
            lite.namedtuple("Bad", bad, defaults=[], module=__name__)
        with pytest.raises(ValueError, match="underscore"):
            collections.namedtuple("Bad", bad)


class _Counted:
    def __init__(self) -> None:
        self.calls = 0

    def value(self) -> int:
        """The value."""
        self.calls += 1
        return self.calls * 10


def test_a_lean_cached_property_is_functools_own() -> None:
    import functools

    for cached in (lite.cached_property, functools.cached_property):

        class Thing(_Counted):
            value = cached(_Counted.value)  # type: ignore[arg-type]

        t = Thing()
        assert t.value == 10 and t.value == 10 and t.calls == 1 and t.__dict__["value"] == 10
        del t.value
        assert t.value == 20 and t.calls == 2
        t.value = 5
        assert t.value == 5
        assert Thing.value.__doc__ == "The value." and Thing.value.attrname == "value"  # type: ignore[attr-defined]
        # 3.11 wraps an error of __set_name__ in a RuntimeError; 3.12 raises it as it is, with a note
        with pytest.raises((RuntimeError, TypeError)) as twice:

            class Twice:
                a = b = cached(_Counted.value)  # type: ignore[arg-type]

        assert "two different names" in str(twice.value.__cause__ or twice.value)

        class Slotted:
            __slots__ = ()
            value = cached(_Counted.value)  # type: ignore[arg-type]

        with pytest.raises(TypeError, match="No '__dict__' attribute"):
            Slotted().value  # noqa: B018
        with pytest.raises(TypeError, match="without calling __set_name__"):
            cached(_Counted.value).__get__(Thing())  # type: ignore[arg-type]


def _codes(base: type) -> type:
    class Code(base):  # type: ignore[valid-type, misc]
        GIT = "E001"
        AGENT = "E002"
        ALIAS = "E001"

        def describe(self) -> str:
            return f"{self.name}={self.value}"

    return Code


Ours = _codes(lite.StrEnum)
Real = _codes(enum.StrEnum)
Ours.__qualname__, Real.__qualname__ = "Ours", "Real"  # pickled by their names in this module


def test_a_lean_str_enum_is_enums_own() -> None:
    for cls in (Ours, Real):
        git = cls.GIT
        assert git == "E001" and isinstance(git, str) and isinstance(git, cls) and type(git) is cls
        assert git.value == "E001" and type(git.value) is str and git.name == "GIT" and git._name_ == "GIT"
        assert cls("E001") is git and cls(git) is git and cls.ALIAS is git and cls["GIT"] is git
        assert str(git) == f"{git}" == format(git, "") == "%s" % git == "E001" and format(git, ">6") == "  E001"  # noqa: UP031
        assert repr(git) == "<Code.GIT: 'E001'>" and repr(cls) == "<enum 'Code'>"
        assert list(cls) == [cls.GIT, cls.AGENT] and list(reversed(cls)) == [cls.AGENT, cls.GIT] and len(cls) == 2
        assert list(cls.__members__) == ["GIT", "AGENT", "ALIAS"] and cls.__members__["ALIAS"] is git
        assert git in cls and hash(git) == hash("E001") and {git: 1}["E001"] == 1 and {"E001": 2}[git] == 2
        assert pickle.loads(pickle.dumps(git)) is git and copy.copy(git) is git and copy.deepcopy(git) is git
        assert json.dumps({"code": git}) == '{"code": "E001"}' and git.describe() == "GIT=E001"
        assert git + "x" == "E001x" and git.lower() == "e001" and git[1:] == "001"
        assert git < cls.AGENT and sorted([cls.AGENT, git]) == [git, cls.AGENT]
        assert cls.__doc__ is None
        for bad in ("bad", 1, None):
            with pytest.raises(ValueError, match=f"^{bad!r} is not a valid {cls.__qualname__}$"):
                cls(bad)
        with pytest.raises(KeyError):
            cls["E001"]
        with pytest.raises(AttributeError, match="cannot reassign member 'GIT'"):
            cls.GIT = "E009"
        with pytest.raises(TypeError, match="cannot extend"):

            class More(cls):  # type: ignore[valid-type, misc]
                OTHER = "E003"


def test_a_lean_error_code_is_the_real_one() -> None:
    """ErrorCode (a lean StrEnum at run time) against the StrEnum type checkers see."""
    from ampsm_tui.engine.errors import EXIT_STATUS, AmpsmError, ErrorCode

    real = enum.StrEnum("ErrorCode", {code.name: code.value for code in ErrorCode})  # type: ignore[misc]
    assert [(c.name, c.value) for c in ErrorCode] == [(c.name, c.value) for c in real]
    assert EXIT_STATUS[ErrorCode.TIMEOUT] == EXIT_STATUS["E005"] == 15  # type: ignore[index]
    err = AmpsmError("E004", "")
    assert err.code is ErrorCode.WORKTREE and err.message == "WORKTREE" and str(err) == "E004: WORKTREE"
    back = pickle.loads(pickle.dumps(err))
    assert back.code is ErrorCode.WORKTREE and back.exit_status == 14
    with pytest.raises(ValueError):
        AmpsmError("E999", "no such code")
