"""Find the application a ``module:attribute`` target names, and the interface it speaks
(ASGI 3, ASGI 2 or WSGI)."""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
from typing import Any, Literal

from .._errors import ConfigError
from ..asgi import ASGIApp
from ..asgi._asgi2 import ASGI2Adapter
from ..static import app_for_directory
from ._source_dirs import source_dir_problem

__all__ = ["Interface", "adapt_app", "detect_interface", "import_app"]


def import_app(
    target: str, *, factory: bool = False, static: bool = False, app_dir: str = ""
) -> ASGIApp:
    """Import ``module:attr`` (attr may be dotted); with ``factory``, call it for the app.
    ``app_dir``: a directory put first on ``sys.path`` (else the current directory).

    A target without ``:`` that names a directory (or an empty target: the current
    directory) is served as static files; if it holds Python code (a package, or
    modules at its top), only with ``static``: the user most likely forgot ``:app``.

    Raises ConfigError with a message that says what is wrong with the target.
    """
    if not target or (":" not in target and os.path.isdir(target)):
        problem = None if static else source_dir_problem(target)
        if problem is not None:
            raise ConfigError(problem)
        return app_for_directory(target or ".")
    module_name, colon, attr = target.partition(":")
    if not colon or not module_name or not attr:
        raise ConfigError(f"application target must be 'module:attribute', got {target!r}")
    if app_dir:
        sys.path.insert(0, app_dir)  # as uvicorn's --app-dir
    elif "" not in sys.path:
        sys.path.insert(0, "")  # like uvicorn and python -m: the current directory first
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name and not module_name.startswith(f"{exc.name}."):
            raise  # the module exists but an import inside it failed: show the real error
        raise ConfigError(f"could not import module {module_name!r}") from None
    app: Any = module
    for part in attr.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise ConfigError(f"module {module_name!r} has no attribute {attr!r}") from None
    if factory:
        if not callable(app):
            raise ConfigError(f"factory {target!r} is not callable")
        app = app()
    if not callable(app):
        raise ConfigError(f"application {target!r} is not callable")
    return app  # type: ignore[no-any-return]


Interface = Literal["asgi3", "asgi2", "wsgi"]


def detect_interface(app: Any) -> Interface:
    """Which interface ``app`` speaks, from its shape (nothing is called):

    1. a coroutine function, or an object whose ``__call__`` is one: ASGI 3;
    2. otherwise, by the number of positional parameters of the call (of the
       constructor, for a class): 1 → ASGI 2 (``app(scope)`` returns the coroutine
       function that takes ``(receive, send)``), 2 → WSGI (``environ,
       start_response``), 3 → ASGI 3;
    3. no countable signature (``*args``, a builtin): a class is taken as ASGI 2 (the
       classic ``App(scope)`` shape), anything else as ASGI 3.
    """
    if _is_async(app) or _is_async(type(app).__call__):
        return "asgi3"
    count = _positional_count(app)
    if count == 1:
        return "asgi2"
    if count == 2:
        return "wsgi"
    if count is None and inspect.isclass(app):
        return "asgi2"
    return "asgi3"


def _is_async(function: Any) -> bool:
    while isinstance(function, functools.partial):
        function = function.func
    return inspect.iscoroutinefunction(function)


def _positional_count(app: Any) -> int | None:
    """Positional parameters the call takes (None for *args or no signature)."""
    try:
        parameters = inspect.signature(app).parameters.values()
    except (TypeError, ValueError):
        return None
    count = 0
    for parameter in parameters:
        if parameter.kind is parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def adapt_app(
    app: Any, interface: Literal["auto", "asgi3", "asgi2", "wsgi"] = "auto", threads: int = 10
) -> ASGIApp:
    """``app`` as an ASGI 3 application: detected (see ``detect_interface``) or forced."""
    kind = detect_interface(app) if interface == "auto" else interface
    if kind == "asgi2":
        return ASGI2Adapter(app)
    if kind == "wsgi":
        from ..wsgi import WSGIAdapter

        return WSGIAdapter(app, threads)
    return app  # type: ignore[no-any-return]
