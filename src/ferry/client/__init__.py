"""Ferry's HTTP/1.1 client, on the engine's client role.

``AsyncClient`` (asyncio) and ``Client`` (blocking) are one implementation: the blocking
modules in ``_sync/`` are generated from ``_async/`` by scripts/unasync.py (a test fails
when they differ); only the network layer (``_backend.py``) is written twice.

>>> async with AsyncClient() as client:  # doctest: +SKIP
...     response = await client.get("https://example.com/")
...     response.raise_for_status()
...     print(response.status_code, response.headers.get("content-type"), response.text)
"""

from __future__ import annotations

from .._errors import (
    ClientClosed,
    ClientTimeout,
    ConnectError,
    ConnectTimeout,
    DecodingError,
    HTTPStatusError,
    NetworkError,
    PoolTimeout,
    ReadTimeout,
    ResponseNotRead,
    ResponseTooLarge,
    TooManyRedirects,
    TotalTimeout,
    WriteTimeout,
)
from ._async._client import AsyncClient, AsyncResponse
from ._cookies import Cookies
from ._inprocess import ASGITransport, MockRequest, MockResponse, MockTransport
from ._models import PoolLimits, ResponseHeaders, Timeouts
from ._multipart import MultipartBody, encode_multipart
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
    "Cookies",
    "DecodingError",
    "HTTPStatusError",
    "MockRequest",
    "MockResponse",
    "MockTransport",
    "MultipartBody",
    "NetworkError",
    "PoolLimits",
    "PoolTimeout",
    "ReadTimeout",
    "Response",
    "ResponseHeaders",
    "ResponseNotRead",
    "ResponseTooLarge",
    "Timeouts",
    "TooManyRedirects",
    "TotalTimeout",
    "WriteTimeout",
    "encode_multipart",
]
