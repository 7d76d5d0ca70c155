"""Ferry's HTTP/1.1 client, on the engine's client role.

``AsyncClient`` (asyncio) and ``Client`` (blocking) are one implementation: the blocking
modules in ``_sync/`` are generated from ``_async/`` by scripts/unasync.py (a test fails
when they differ); only the network layer (``_backend.py``) is written twice.

>>> async with AsyncClient() as client:  # doctest: +SKIP
...     response = await client.get("https://example.com/")
...     print(response.status, len(response.content))
"""

from __future__ import annotations

from .._errors import (
    ClientClosed,
    ClientTimeout,
    ConnectError,
    ConnectTimeout,
    DecodingError,
    NetworkError,
    PoolTimeout,
    ReadTimeout,
    TooManyRedirects,
    WriteTimeout,
)
from ._async._client import AsyncClient, AsyncResponse
from ._inprocess import ASGITransport, MockRequest, MockResponse, MockTransport
from ._models import PoolLimits, Timeouts
from ._sync._client import Client, Response

__all__ = [
    "ASGITransport",
    "AsyncClient",
    "AsyncResponse",
    "Client",
    "ClientClosed",
    "ClientTimeout",
    "ConnectError",
    "ConnectTimeout",
    "DecodingError",
    "MockRequest",
    "MockResponse",
    "MockTransport",
    "NetworkError",
    "PoolLimits",
    "PoolTimeout",
    "ReadTimeout",
    "Response",
    "Timeouts",
    "TooManyRedirects",
    "WriteTimeout",
]
