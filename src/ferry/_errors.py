"""The one exception tree of Ferry.

::

    FerryError                         root: catch this to catch anything Ferry raises
    ├── ProtocolError                  an HTTP/1.1 rule was broken; ``.status`` is the
    │   │                              response status it maps to
    │   ├── RemoteProtocolError        the peer broke the rule (bad request bytes): 400,
    │   │                              408, 413, 414, 417, 431, 501, 505
    │   └── LocalProtocolError         our caller broke it (e.g. an application sent a
    │                                  header value with CR/LF): 500
    ├── ClientDisconnected(OSError)    ASGI ``send()`` after the client went away
    ├── FileShrankError(OSError)       a file got shorter while StaticFiles sent it
    ├── ConfigError(ValueError)        a configuration value or application target is wrong
    ├── ProxyHeaderError(ValueError)   a PROXY protocol header (HAProxy's v1 or v2) broke
    │                                  its specification: the connection is dropped
    │                                  (the client's errors below)
    ├── NetworkError(ConnectionError)  the connection broke during an exchange
    │   └── ConnectError               no connection could be opened (DNS, refused, TLS)
    ├── ClientTimeout(TimeoutError)    a client timeout expired
    │   ├── ConnectTimeout             opening the connection (DNS, TCP and TLS)
    │   ├── ReadTimeout                waiting for response bytes
    │   ├── WriteTimeout               sending request bytes
    │   ├── PoolTimeout                waiting for a free connection in the pool
    │   └── TotalTimeout               the whole request, redirects and body included
    │                                  (``Timeouts.total``)
    ├── DecodingError(ValueError)      a Content-Encoding could not be decoded, or the
    │                                  decoded body outgrew the decompression limit
    ├── ResponseTooLarge               a response body larger than the client's
    │                                  ``max_response_size`` (declared, or as read)
    ├── TooManyRedirects               more redirects than the client follows
    ├── HTTPStatusError                ``raise_for_status()`` on a 4xx or 5xx response;
    │                                  ``.response`` is that response
    ├── ResponseNotRead(RuntimeError)  a streamed response's ``text`` or ``json()`` before
    │                                  its body was read
    └── ClientClosed(RuntimeError)     the client (or its pool) was used after ``close()``

Errors are split by blame, as in h11: a ``RemoteProtocolError`` is answered with its status
and the connection is closed; a ``LocalProtocolError`` is a bug in the application and is
answered with 500 when nothing has been sent yet. The client raises RemoteProtocolError for
a response that breaks the rules (its ``status`` then means nothing); every exception an
I/O call of the client raises is one of the above, never a bare ``OSError``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ClientClosed",
    "ClientDisconnected",
    "ClientTimeout",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "DecodingError",
    "FerryError",
    "HTTPStatusError",
    "LocalProtocolError",
    "NetworkError",
    "PoolTimeout",
    "ProtocolError",
    "ProxyHeaderError",
    "ReadTimeout",
    "RemoteProtocolError",
    "ResponseNotRead",
    "ResponseTooLarge",
    "TooManyRedirects",
    "TotalTimeout",
    "WriteTimeout",
]


class FerryError(Exception):
    """Root of every exception Ferry raises."""


class ProtocolError(FerryError):
    """An HTTP/1.1 rule was broken.

    ``status`` is the HTTP status code the error maps to when a server answers it.
    """

    status: int

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that break RFC 9110/9112 (or exceed a configured limit)."""


class LocalProtocolError(ProtocolError):
    """Our caller asked for something HTTP/1.1 forbids (e.g. a header with a CR)."""

    def __init__(self, message: str, *, status: int = 500) -> None:
        super().__init__(message, status=status)


class ConfigError(FerryError, ValueError):
    """A configuration value, or the application target, is invalid."""


class ProxyHeaderError(FerryError, ValueError):
    """The bytes before HTTP are not the PROXY protocol header the listener expects
    (HAProxy's ``proxy-protocol.txt``, version 1 or 2). Such a connection is closed
    without a response: a peer that speaks the protocol wrong gets nothing to parse."""


class ClientDisconnected(FerryError, OSError):
    """The client closed the connection; the response can no longer be sent.

    ASGI 2.4 asks servers to raise a subclass of OSError from ``send()`` in that case.
    """


class NetworkError(FerryError, ConnectionError):
    """The connection broke (reset, closed, unreachable) while a request was under way."""


class ConnectError(NetworkError):
    """No connection could be opened: the name did not resolve, the peer refused, or the
    TLS handshake failed (certificate verification included)."""


class ClientTimeout(FerryError, TimeoutError):
    """One of the client's timeouts expired; the subclass says which."""


class ConnectTimeout(ClientTimeout):
    """Opening a connection (DNS, TCP connect, TLS handshake) took too long."""


class ReadTimeout(ClientTimeout):
    """No response byte arrived within the read timeout."""


class WriteTimeout(ClientTimeout):
    """Request bytes could not be sent within the write timeout."""


class PoolTimeout(ClientTimeout):
    """No connection of the pool became free within the pool timeout."""


class TotalTimeout(ClientTimeout):
    """The request's total deadline (``Timeouts.total``) passed: it bounds the whole
    exchange, from the wait for a connection to the end of the body, redirects included."""


class DecodingError(FerryError, ValueError):
    """A response's Content-Encoding could not be decoded, or the decoded body grew past
    the decompression limit (a decompression bomb)."""


class ResponseTooLarge(FerryError):
    """A response body is larger than the client's ``max_response_size``: its
    Content-Length says so (raised before the body is read), or what arrived of it passed
    the limit (raised then, before more is taken in). ``limit`` is the limit in bytes,
    ``size`` the declared size or the bytes received so far (decoded)."""

    def __init__(self, message: str, *, limit: int, size: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.size = size


class TooManyRedirects(FerryError):
    """A request was redirected more than the client's ``max_redirects`` times."""


class HTTPStatusError(FerryError):
    """``raise_for_status()`` found a 4xx or 5xx status; ``response`` is the response
    (its body read, unless it was streamed), ``request`` the request it answered."""

    def __init__(self, message: str, *, response: Any) -> None:
        super().__init__(message)
        self.response = response
        self.request = getattr(response, "request", None)


class ResponseNotRead(FerryError, RuntimeError):
    """A streamed response's ``text`` or ``json()`` was asked for before ``read()``."""


class ClientClosed(FerryError, RuntimeError):
    """The client, or its connection pool, was used after it was closed."""
