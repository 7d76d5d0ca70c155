"""Directories of Python code given where an application was meant: ``ferry serve pkg``
without ``:app`` would serve the package's source as static files.

``source_dir_problem`` finds them, and the likely meant targets, by reading the files'
syntax trees (``ast``): nothing is imported or run.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

__all__ = ["likely_targets", "source_dir_problem"]

_MAX_FILES = 50  # modules read for candidates: enough for a project's top level
_MAX_FILE_SIZE = 1 << 20
_APP_NAMES = ("app", "application", "api", "asgi_app", "wsgi_app")
# Callables whose result is an ASGI or WSGI application (the last part of the name).
_APP_FACTORIES = frozenset(
    {
        "FastAPI",
        "Starlette",
        "Flask",
        "Quart",
        "Litestar",
        "Sanic",
        "Bottle",
        "Falcon",
        "App",
        "get_asgi_application",
        "get_wsgi_application",
    }
)
_FACTORY_NAMES = ("create_app", "make_app", "app_factory")


def source_dir_problem(directory: str) -> str | None:
    """Why serving ``directory`` as files is likely a mistake (it is a Python package, or
    holds ``.py`` files at its top), with the command likely meant; None if it holds no
    Python code at its top."""
    path = Path(directory or ".")
    try:
        modules = sorted(p for p in path.iterdir() if p.suffix == ".py" and p.is_file())
    except OSError:
        return None  # unreadable: StaticFiles reports what is wrong with it
    if not modules:
        return None
    package = (path / "__init__.py").is_file()
    what = "is a Python package" if package else "holds Python modules"
    shown = repr(directory) if directory else "the current directory"
    commands = " or ".join(_commands(path, likely_targets(path, modules, package)))
    return (
        f"{shown} {what}: serving it would publish its source code. Did you mean "
        f"{commands}? To serve it as files anyway, add --static."
    )


def _commands(path: Path, targets: list[str]) -> list[str]:
    """``'ferry serve TARGET'`` for each target, with the ``--app-dir`` it needs: the
    directory above a package, else the directory itself (unless it is the current one)."""
    base = path.resolve()
    root = base.parent if (base / "__init__.py").is_file() else base
    app_dir = "" if root == Path.cwd().resolve() else f"--app-dir {_shown(root)} "
    return [f"'ferry serve {app_dir}{target}'" for target in targets]


def _shown(path: Path) -> str:
    """``path`` relative to the current directory if that is short, else absolute."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith(f"..{os.sep}..") else relative


def likely_targets(path: Path, modules: list[Path], package: bool) -> list[str]:
    """``module:attribute`` targets for the apps the modules seem to define (at most 3;
    ``--factory`` for an app factory), else the usual guess ``module:app``."""
    prefix = path.resolve().name if package else ""
    found: list[str] = []
    for module in modules[:_MAX_FILES]:
        name = _module_name(prefix, module.stem)
        found += [f"{name}:{attr}" for attr in _apps_in(module)]
        found += [f"--factory {name}:{attr}" for attr in _factories_in(module)]
    if found:
        return found[:3]
    first = "__init__" if package else modules[0].stem
    return [f"{_module_name(prefix, first)}:app"]


def _module_name(prefix: str, stem: str) -> str:
    if not prefix:
        return stem
    return prefix if stem == "__init__" else f"{prefix}.{stem}"


def _tree(module: Path) -> ast.Module | None:
    try:
        if module.stat().st_size > _MAX_FILE_SIZE:
            return None
        return ast.parse(module.read_bytes(), str(module))
    except (OSError, SyntaxError, ValueError):
        return None


def _apps_in(module: Path) -> list[str]:
    """Top-level names that look like an application: ``async def x(scope, receive,
    send)``, ``app = ...`` (and the other usual names), ``x = FastAPI(...)`` and the like."""
    tree = _tree(module)
    if tree is None:
        return []
    names = []
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef) and len(node.args.args) == 3:
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and (
                    target.id in _APP_NAMES or _calls_an_app_factory(node.value)
                ):
                    names.append(target.id)
    return list(dict.fromkeys(names))


def _calls_an_app_factory(value: ast.expr | None) -> bool:
    if not isinstance(value, ast.Call):
        return False
    function = value.func
    name = function.attr if isinstance(function, ast.Attribute) else None
    if isinstance(function, ast.Name):
        name = function.id
    return name in _APP_FACTORIES


def _factories_in(module: Path) -> list[str]:
    tree = _tree(module)
    if tree is None:
        return []
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in _FACTORY_NAMES
    ]
