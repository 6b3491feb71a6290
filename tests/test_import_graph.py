"""The import graph of `ampsm_tui`, read from the source (AST): no import circle, no screen or widget
importing the app module, and no screen importing another screen's helpers.

Imports under `if TYPE_CHECKING:` never run and are not edges. Imports inside functions run late
(the app pushing a screen, a command loading its engine) and cannot break start-up, but a circle
through them in the UI is still two modules that each need the other, so the circle test counts
them there too."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ampsm_tui"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: the body, and the branches of top-level
    `if`/`try` blocks, except `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.append(node)
            elif isinstance(node, ast.If):
                if not _is_type_checking(node):
                    walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.Try):
                walk(node.body)
                for handler in node.handlers:
                    walk(handler.body)
                walk(node.orelse)
                walk(node.finalbody)

    walk(tree.body)
    return found


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str | None]]:
    """(module imported, name taken from it) for each ampsm_tui module an import statement loads."""
    out: list[tuple[str, str | None]] = []
    if isinstance(node, ast.Import):
        out.extend((alias.name, None) for alias in node.names if alias.name in MODULES)
        return out
    if node.level:
        is_package = MODULES[module].name == "__init__.py"
        base = module.split(".")
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        if sub in MODULES:
            out.append((sub, None))
        elif source in MODULES:
            out.append((source, alias.name))
    return out


def _graph() -> dict[str, list[tuple[str, str | None]]]:
    """Module -> what it imports when it is imported (module level, not TYPE_CHECKING)."""
    graph: dict[str, list[tuple[str, str | None]]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = [t for node in _top_level_imports(tree) for t in _targets(module, node)]
    return graph


def _runtime_imports(module: str, tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import that can run: module level and inside functions, not under TYPE_CHECKING."""
    typing_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and _is_type_checking(block)
        for n in ast.walk(block)
    }
    return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and id(n) not in typing_only]


def _full_graph() -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = sorted({t for node in _runtime_imports(module, tree) for t, _ in _targets(module, node)})
    return graph


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, []):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read() -> None:
    graph = _graph()
    assert ("ampsm_tui.messages", "DataChanged") in graph["ampsm_tui.screens.dashboard"]
    assert ("ampsm_tui.engine.events", "MetricsEventBus") in graph["ampsm_tui.engine.review"]
    assert all(t != "ampsm_tui.app" for t, _ in graph["ampsm_tui.screens.review"])  # TYPE_CHECKING only
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]


UI = ("ampsm_tui.app", "ampsm_tui.messages", "ampsm_tui.screens", "ampsm_tui.widgets")


def test_no_import_circle_in_ampsm_tui() -> None:
    module_level = {m: sorted({t for t, _ in targets}) for m, targets in _graph().items()}
    assert _cycles(module_level) == []
    # The UI not even through an import inside a function (the app pushes screens lazily; a screen
    # never needs the app module back). The engine defers imports on purpose, for start-up time.
    through_ui = [c for c in _cycles(_full_graph()) if any(m.startswith(UI) for m in c)]
    assert through_ui == []


def test_no_screen_or_widget_imports_the_app_module() -> None:
    """Not even lazily: screens get the app from `self.app`, and messages from `ampsm_tui.messages`."""
    offenders = []
    for module, path in MODULES.items():
        if not module.startswith(("ampsm_tui.screens", "ampsm_tui.widgets")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _runtime_imports(module, tree):
            if any(t == "ampsm_tui.app" for t, _ in _targets(module, node)):
                offenders.append(f"{module}:{node.lineno}")
    assert offenders == []


def test_no_screen_imports_another_screens_helpers() -> None:
    """A screen may import another screen (to push it) or the shared `session_actions` mixin; a
    function of another screen module belongs in a shared module instead (the dashboard's history
    helpers live in `live_tail` and `widgets.output_log`)."""
    offenders = []
    for module, targets in _graph().items():
        if not module.startswith("ampsm_tui.screens."):
            continue
        for target, name in targets:
            if not target.startswith("ampsm_tui.screens.") or target == module or name is None:
                continue
            value = getattr(importlib.import_module(target), name)
            if not inspect.isclass(value):
                offenders.append(f"{module} imports {target}.{name}")
    assert offenders == []
