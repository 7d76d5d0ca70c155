"""Ferry's asyncio server: the listener, the one protocol, flow control, timeouts."""

from __future__ import annotations

from ._config import Config
from ._server import Server, serve

__all__ = ["Config", "Server", "serve"]
