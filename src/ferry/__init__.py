"""Ferry: a fast, strict HTTP/1.1 server for ASGI applications.

>>> import ferry
>>> ferry.serve(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

from ._errors import (
    ClientDisconnected,
    ConfigError,
    FerryError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from ._version import __version__
from .http1 import Limits
from .server import Config, Server, serve
from .static import StaticFiles

__all__ = [
    "ClientDisconnected",
    "Config",
    "ConfigError",
    "FerryError",
    "Limits",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "Server",
    "StaticFiles",
    "__version__",
    "serve",
]
