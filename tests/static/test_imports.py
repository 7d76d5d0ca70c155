"""No import cycle through ferry.static at run time.

The server's loader imports ferry.static (a folder target is served as static files), so
static files import no layer of Ferry but the exception tree when they run: the ASGI
types they name (``Scope``, ``Send``...) are imported for type checking only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ferry
import ferry.static

SRC = Path(ferry.__file__).parent
STATIC = Path(ferry.static.__file__).parent
ALLOWED = ("ferry._errors", "ferry.static")


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(source: str, package: str) -> set[str]:
    """Absolute names of the modules ``source`` (a module of ``package``) imports when it
    runs: at module level or inside a function, but not under ``if TYPE_CHECKING:``."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            assert isinstance(node, ast.If)
            for other in node.orelse:
                visit(other)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{module}" if module else base
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def package_of(module: str) -> str:
    """``ferry.static._app`` → ``ferry.static``; ``ferry._errors`` stays itself."""
    return ".".join(module.split(".")[:2])


def package_graph() -> dict[str, set[str]]:
    """Which packages of ferry (and top-level modules) each imports at run time."""
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        package = ".".join(parts[:-1])
        me = package_of(package if parts[-1] == "__init__" else ".".join(parts))
        for name in runtime_imports(path.read_text(encoding="utf-8"), package):
            if name.startswith("ferry.") and package_of(name) != me:
                graph.setdefault(me, set()).add(package_of(name))
    return graph


@pytest.mark.parametrize("path", sorted(STATIC.glob("*.py")), ids=lambda p: p.name)
def test_static_imports_no_other_layer_at_run_time(path: Path) -> None:
    imported = runtime_imports(path.read_text(encoding="utf-8"), "ferry.static")
    ours = {name for name in imported if name.startswith("ferry.")}
    assert {name for name in ours if not name.startswith(ALLOWED)} == set()


def test_no_run_time_cycle_goes_through_static() -> None:
    graph = package_graph()
    assert "ferry.static" in graph["ferry.server"]  # the loader's folder target
    reached: set[str] = set()
    todo = list(graph.get("ferry.static", ()))
    while todo:
        package = todo.pop()
        if package not in reached:
            reached.add(package)
            todo.extend(graph.get(package, ()))
    assert "ferry.static" not in reached


def test_the_walk_sees_run_time_imports_only() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import typing\n"
        "from .._errors import FerryError\n"
        "if TYPE_CHECKING:\n"
        "    from ..asgi import Scope\n"
        "else:\n"
        "    import json\n"
        "if typing.TYPE_CHECKING:\n"
        "    import ferry.server\n"
        "def later():\n"
        "    from ..client import Client\n"
        "    from . import _body\n"
    )
    assert runtime_imports(source, "ferry.static") == {
        "typing",
        "typing.TYPE_CHECKING",
        "ferry._errors",
        "ferry._errors.FerryError",
        "json",
        "ferry.client",
        "ferry.client.Client",
        "ferry.static",
        "ferry.static._body",
    }
