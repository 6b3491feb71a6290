"""Every key binding of every ampsm Screen and Widget goes through the actions registry: an action
that is not in it would be missing from `?` help, the palette, the README's key table and user keymaps."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from textual.binding import Binding
from textual.dom import DOMNode

import ampsm_tui.screens
import ampsm_tui.widgets
from ampsm_tui import actions


def _classes() -> list[type[DOMNode]]:
    found: list[type[DOMNode]] = []
    for package in (ampsm_tui.screens, ampsm_tui.widgets):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, DOMNode) and cls.__module__ == module.__name__:
                    found.append(cls)
    return found


def _action_name(action: str) -> str:
    name = action.split("(", 1)[0]
    return name.rsplit(".", 1)[-1]  # "app.quit" -> "quit"


def test_every_binding_is_a_registry_action() -> None:
    registry = {a.id for a in actions.ACTIONS}
    classes = _classes()
    assert any(c.__name__ == "DashboardScreen" for c in classes) and any(c.__name__ == "BatchesScreen" for c in classes)
    stray = []
    for cls in classes:
        for binding in cls.__dict__.get("BINDINGS", []):
            action = binding.action if isinstance(binding, Binding) else binding[1]
            if _action_name(action) not in registry:
                stray.append(f"{cls.__name__}: {action}")
    assert not stray, stray


def test_every_registry_binding_carries_its_id() -> None:
    for binding in actions.bindings(*actions.CONTEXTS):
        assert isinstance(binding, Binding) and binding.id == _action_name(binding.action)
