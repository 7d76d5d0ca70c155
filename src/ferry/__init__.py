"""Ferry: a fast, strict HTTP/1.1 server for ASGI applications, and its client.

>>> import ferry
>>> ferry.serve(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

from . import (
    _accel,  # noqa: F401  first: it puts the compiled modules in place, if built
    asgi,
)
from ._errors import (
    ClientClosed,
    ClientDisconnected,
    ClientTimeout,
    ConfigError,
    ConnectError,
    ConnectTimeout,
    DecodingError,
    FerryError,
    HTTPStatusError,
    LocalProtocolError,
    NetworkError,
    PoolTimeout,
    ProtocolError,
    ReadTimeout,
    RemoteProtocolError,
    TooManyRedirects,
    WriteTimeout,
)
from ._version import __version__
from .client import ASGITransport, AsyncClient, Client, MockTransport
from .http1 import Limits
from .server import Config, Server, serve
from .server import import_app as _import_app
from .static import StaticFiles

# ferry.asgi.import_app, public there, lives in the server (see ferry/asgi/__init__.py).
asgi.import_app = _import_app

__all__ = [
    "ASGITransport",
    "AsyncClient",
    "Client",
    "ClientClosed",
    "ClientDisconnected",
    "ClientTimeout",
    "Config",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "DecodingError",
    "FerryError",
    "HTTPStatusError",
    "Limits",
    "LocalProtocolError",
    "MockTransport",
    "NetworkError",
    "PoolTimeout",
    "ProtocolError",
    "ReadTimeout",
    "RemoteProtocolError",
    "Server",
    "StaticFiles",
    "TooManyRedirects",
    "WriteTimeout",
    "__version__",
    "serve",
]
