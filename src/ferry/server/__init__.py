"""Ferry's asyncio server: the listener, the one protocol, flow control, timeouts; loading
the application a target names (``import_app``)."""

from __future__ import annotations

from ._config import Config
from ._loader import import_app
from ._server import Server, serve

__all__ = ["Config", "Server", "import_app", "serve"]
