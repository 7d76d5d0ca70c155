"""The engine stays sans-IO: no module of ferry.http1 imports I/O or the layers above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ferry.http1

FORBIDDEN = ("asyncio", "socket", "ssl", "selectors", "ferry.server", "ferry.asgi")
PACKAGE = Path(ferry.http1.__file__).parent


def imported_modules(source: str, package: str) -> set[str]:
    """Absolute names of every module ``source`` (a module of ``package``) imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def forbidden_imports(source: str, package: str = "ferry.http1") -> set[str]:
    return {
        name
        for name in imported_modules(source, package)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    }


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_engine_module_imports_no_io(path: Path) -> None:
    assert forbidden_imports(path.read_text(encoding="utf-8")) == set()


def test_the_walk_finds_every_kind_of_import() -> None:
    source = (
        "import asyncio\n"
        "import ssl as tls\n"
        "from socket import socket\n"
        "from ..server import _protocol\n"
        "from .. import asgi\n"
        "def later():\n"
        "    import selectors\n"
        "from . import _head\n"
        "from .._errors import RemoteProtocolError\n"
    )
    assert forbidden_imports(source) == {
        "asyncio",
        "ssl",
        "socket",
        "socket.socket",
        "ferry.server",
        "ferry.server._protocol",
        "ferry.asgi",
        "selectors",
    }


def test_every_engine_module_is_checked() -> None:
    assert {p.name for p in PACKAGE.glob("*.py")} >= {"__init__.py", "_server.py"}
