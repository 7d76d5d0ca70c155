"""Find the application a ``module:attribute`` target names."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from .._errors import ConfigError
from ._types import ASGIApp

__all__ = ["import_app"]


def import_app(target: str, *, factory: bool = False) -> ASGIApp:
    """Import ``module:attr`` (attr may be dotted); with ``factory``, call it for the app.

    A target without ``:`` that names a directory (or an empty target: the current
    directory) is served as static files.

    Raises ConfigError with a message that says what is wrong with the target.
    """
    if not target or (":" not in target and os.path.isdir(target)):
        from ..static import app_for_directory

        return app_for_directory(target or ".")
    module_name, colon, attr = target.partition(":")
    if not colon or not module_name or not attr:
        raise ConfigError(f"application target must be 'module:attribute', got {target!r}")
    if "" not in sys.path:
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
