"""The run-time stand-ins for typing's NamedTuple, overload and cast (engine/lite.py) behave as
typing's own for everything the lean modules do with them."""

from __future__ import annotations

import pickle
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
