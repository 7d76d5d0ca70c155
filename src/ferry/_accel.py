"""The optional compiled accelerator: the hot modules built to C by mypyc.

The engine, the ASGI cycle and the server's per-request path are plain, fully typed
Python, and that same source compiles with mypyc (``scripts/accelerate.py``, run by
``make install``). The built modules sit in ``ferry/_compiled/`` with a manifest of the
sources they were built from. ``install()``, called first thing by ``ferry/__init__.py``,
puts an import finder in front of the normal one that loads those modules instead of
the ``.py`` files, but only when every source is byte-identical to what was built (a
stale build is never used) and the build is for this Python. Otherwise, or with
``FERRY_PURE=1`` in the environment, Ferry runs as pure Python: the fallback is the same
code, not a second implementation.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

__all__ = ["MODULES", "active", "install", "reason"]

MODULES = (
    "ferry.http1._abnf",
    "ferry.http1._body",
    "ferry.http1._caches",
    "ferry.http1._client",
    "ferry.http1._connection",
    "ferry.http1._date",
    "ferry.http1._events",
    "ferry.http1._fields",
    "ferry.http1._framing",
    "ferry.http1._limits",
    "ferry.http1._render",
    "ferry.http1._request_head",
    "ferry.http1._response_head",
    "ferry.http1._scan",
    "ferry.http1._server",
    "ferry.http1._state",
    "ferry.http1._status",
    "ferry.asgi._cycle",
    "ferry.asgi._scope",
    "ferry.metrics._layout",
    "ferry.metrics._recorder",
    "ferry.server._batch",
    "ferry.server._combined_log",
    "ferry.server._protocol",
    "ferry.server._sendfile",
    "ferry.server._state",
    "ferry.static._app",
    "ferry.static._cache",
    "ferry.static._conditional",
    "ferry.static._encoding",
    "ferry.static._negotiation",
    "ferry.static._ranges",
    "ferry.static._reply",
    "ferry.static._representation",
    "ferry.static._scope",
    "ferry.websocket._handshake",
    "ferry.websocket._session",
)
"""The modules compiled: the server's per-request path, and the whole engine (both
roles: a compiled class cannot be subclassed by a Python one)."""

PACKAGE = Path(__file__).resolve().parent
BUILD = PACKAGE / "_compiled"
MANIFEST = BUILD / "manifest.json"

_state = {"active": False, "reason": "not installed"}


def source_of(module: str) -> Path:
    """The ``.py`` file of one of MODULES."""
    return PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def active() -> bool:
    """Whether the compiled modules are in use."""
    return _state["active"] is True


def reason() -> str:
    """Why the accelerator is on or off, in a few words (for ``ferry serve``'s log)."""
    return str(_state["reason"])


class _Finder:
    """Finds the compiled modules (and mypyc's shared library) in ferry/_compiled/."""

    def __init__(self, files: dict[str, Path]) -> None:
        self._files = files

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        file = self._files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def _check_build() -> dict[str, Path] | str:
    """The compiled file of each module (and of the shared library), or why not."""
    if os.environ.get("FERRY_PURE"):
        return "off: FERRY_PURE is set"
    return check_build()


def check_build() -> dict[str, Path] | str:
    """The files of a build that matches every source and this Python (each module's,
    and mypyc's shared library's), or why there is none ("off: ...")."""
    try:
        manifest = json.loads(MANIFEST.read_text())
    except FileNotFoundError:
        return "off: not built (scripts/accelerate.py)"
    except (OSError, ValueError):
        return "off: unreadable manifest"
    if manifest.get("suffix") != importlib.machinery.EXTENSION_SUFFIXES[0]:
        return "off: built for another Python"
    built = manifest.get("modules", {})
    if sorted(built) != sorted(MODULES):
        return "off: built for another module list"
    files = {}
    for module in MODULES:
        entry = built[module]
        if entry.get("sha256") != digest(source_of(module)):
            return f"off: {source_of(module).name} changed since the build"
        files[module] = BUILD / entry["file"]
    shared = manifest.get("shared", {})
    files[shared["module"]] = BUILD / shared["file"]
    if not all(file.is_file() for file in files.values()):
        return "off: a built file is missing"
    return files


def install() -> bool:
    """Use the compiled modules if a current build exists; return whether it does."""
    if _state["reason"] != "not installed":
        return active()
    try:
        found = _check_build()
    except (OSError, KeyError, TypeError, AttributeError):
        found = "off: the build is incomplete"
    if isinstance(found, str):
        _state.update(active=False, reason=found)
        return False
    already = [name for name in MODULES if name in sys.modules]
    if already:  # imported as Python before us: mixing the two is not supported
        _state.update(active=False, reason=f"off: {already[0]} was imported first")
        return False
    sys.meta_path.insert(0, _Finder(found))
    _state.update(active=True, reason="on: compiled with mypyc")
    return True


install()  # on import: ferry/__init__.py imports this module before any other
