"""Ferry's layers, checked: which package may import which, and no cycle between them.

Every ``import`` of a ``ferry`` module counts, function-local ones too (they run, and a
cycle through one is still a cycle), and so does ``importlib.import_module("ferry...")``
(the server loads ``ferry.websocket`` that way); only ``if TYPE_CHECKING:`` blocks are
left out, since they never run. The static files, for one, name the ASGI types for the
type checker only: at run time they import nothing of Ferry but the error tree.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import ferry

PACKAGE = Path(ferry.__file__).resolve().parent

# What each layer may import besides itself and the error tree, from the bottom up. The
# server, above the application adapters and static files, loads the application a
# target names and picks its adapter. ``ferry/__init__.py``, ``__main__.py`` and
# ``_cli.py`` sit above them all; the other top-level modules are leaves.
ALLOWED: dict[str, set[str]] = {
    "_accel": set(),
    "_envfile": set(),
    "_errors": set(),
    "_version": set(),
    "http1": set(),
    "proxy": set(),
    "static": set(),
    "asgi": {"http1"},
    "wsgi": {"asgi"},
    "websocket": {"asgi", "http1"},
    "metrics": {"http1"},
    "server": {"_accel", "asgi", "http1", "metrics", "proxy", "static", "websocket", "wsgi"},
    "client": {"asgi", "http1", "_version"},
    "workers": {"asgi", "metrics", "server"},
}
TOP = {"", "__main__", "_cli"}
COMMON = {"_errors"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    """``ferry.server._protocol`` -> ``server``; a top-level module -> its own name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


class _Imports(ast.NodeVisitor):
    """The ferry modules a file imports when it runs (TYPE_CHECKING blocks left out)."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
        if name == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else None
        if isinstance(function, ast.Name):
            name = function.id
        first = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
        if name == "import_module" and isinstance(first, str) and first.startswith("ferry"):
            self.found.add(first)
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(a.name for a in node.names if a.name.startswith("ferry"))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.module.split(".")
            if not self.is_package:
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join([*base, *([node.module] if node.module else [])])
        else:
            target = node.module or ""
        if not target.startswith("ferry"):
            return
        if node.module is None:  # from . import x: x is a module
            self.found.update(f"{target}.{alias.name}" for alias in node.names)
        else:
            self.found.add(target)


def layer_imports() -> dict[str, dict[str, set[str]]]:
    """layer -> the other layers it imports -> the modules that do."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in PACKAGE.rglob("*.py"):
        if "_compiled" in path.parts:
            continue
        module = _module_name(path)
        visitor = _Imports(module, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        for target in visitor.found:
            if _layer(target) != _layer(module):
                graph[_layer(module)][_layer(target)].add(module)
    return graph


def test_every_package_and_module_has_its_row() -> None:
    layers = {_layer(_module_name(path)) for path in PACKAGE.rglob("*.py")}
    layers |= {path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    assert sorted(layers - TOP - {"_compiled"}) == sorted(ALLOWED)


def test_each_layer_imports_only_the_layers_below_it() -> None:
    graph = layer_imports()
    wrong = {
        (layer, other): sorted(modules)
        for layer, allowed in ALLOWED.items()
        for other, modules in graph[layer].items()
        if other not in allowed | COMMON
    }
    assert wrong == {}


def test_no_import_cycle_between_packages() -> None:
    graph = layer_imports()

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for other in graph.get(start, {}):
            if other == goal or (other not in seen and reaches(other, goal, seen | {other})):
                return True
        return False

    cycles = sorted(layer for layer in list(graph) if layer and reaches(layer, layer, {layer}))
    assert cycles == []


def test_the_checker_sees_the_imports_that_are_not_at_the_top() -> None:
    graph = layer_imports()
    # inside adapt_app; and the slow-request log's look at a WSGI job's thread
    assert graph["server"]["wsgi"] == {"ferry.server._loader", "ferry.server._slow_requests"}
    assert graph["server"]["websocket"] == {"ferry.server._state"}  # import_module


def test_the_checker_sees_a_function_local_import() -> None:
    source = "def f():\n    from ..static import StaticFiles\n"
    visitor = _Imports("ferry.asgi._loader", is_package=False)
    visitor.visit(ast.parse(source))
    assert visitor.found == {"ferry.static"}
    hidden = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..server import x\n"
    visitor = _Imports("ferry.asgi._scope", is_package=False)
    visitor.visit(ast.parse(hidden))
    assert visitor.found == set()


def test_the_checker_sees_run_time_imports_only() -> None:
    source = (
        "import typing\n"
        "from .._errors import FerryError\n"
        "if typing.TYPE_CHECKING:\n"
        "    import ferry.server\n"
        "else:\n"
        "    import ferry.client\n"
        "def later():\n"
        "    from . import _body\n"
        "    importlib.import_module('ferry.websocket')\n"
        "    importlib.import_module(name)\n"
    )
    visitor = _Imports("ferry.static._app", is_package=False)
    visitor.visit(ast.parse(source))
    assert visitor.found == {
        "ferry._errors",
        "ferry.client",
        "ferry.static._body",
        "ferry.websocket",
    }
