"""Transports: what turns a prepared request into a response head and a body source.

``AsyncHTTPTransport`` (the default) sends requests over the connection pool; other
transports (``ferry.client.ASGITransport``, ``MockTransport``) answer them in-process.
A transport's contract: ``handle_async_request`` returns the final response head and a
body whose ``receive`` is called until it returns None, then ``finish`` (the body was
read to its end) or ``aclose`` (it was abandoned, or reading it failed).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ...http1 import NEED_DATA, Headers, Sentinel
from ...http1 import Response as ResponseHead
from .._limits import StepTimeouts
from .._models import IDEMPOTENT_METHODS, URL, Proxy
from ._backend import Trace
from ._connection import AsyncHTTPConnection, StaleConnection
from ._pool import AsyncConnectionPool

__all__ = [
    "AsyncBaseTransport",
    "AsyncHTTPTransport",
    "AsyncRequest",
    "AsyncResponseBody",
]


@dataclass(slots=True)
class AsyncRequest:
    """A request as the client prepared it: ``headers`` are the fields to send (Host
    first); the body is ``body`` when in memory, else the ``pieces`` of a stream."""

    method: bytes
    url: URL
    headers: Headers
    body: bytes | None
    pieces: AsyncIterator[bytes] | None = None
    expect_continue: bool = False

    async def read(self) -> bytes:
        """The whole body (a stream is consumed)."""
        if self.pieces is None:
            return self.body or b""
        return b"".join([piece async for piece in self.pieces])


class AsyncResponseBody(abc.ABC):
    """Where a response's body comes from."""

    @abc.abstractmethod
    async def receive(self, timeouts: StepTimeouts) -> bytes | None:
        """The next piece of the body; None at its end."""

    @abc.abstractmethod
    async def finish(self) -> bool:
        """The body was read to its end: release what carried it. Returns whether the
        connection was kept alive."""

    def receive_ready(self) -> bytes | Sentinel | None:
        """``receive`` without waiting: the next piece if it has arrived, else NEED_DATA
        (this default: always; then ``receive`` waits for it)."""
        return NEED_DATA

    def finish_ready(self) -> bool | None:
        """``finish`` without waiting, if it can be (else None: call ``finish``)."""
        return None

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Abandon the body (unread bytes are dropped)."""


class AsyncBaseTransport(abc.ABC):
    """Sends requests; ``AsyncClient(transport=...)`` takes any subclass."""

    @abc.abstractmethod
    async def handle_async_request(
        self, request: AsyncRequest, timeouts: StepTimeouts, trace: Trace | None
    ) -> tuple[ResponseHead, AsyncResponseBody]:
        """The final response head and its body source. Raises the client's errors."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release what the transport holds. Idempotent."""


class _PooledBody(AsyncResponseBody):
    def __init__(self, connection: AsyncHTTPConnection, pool: AsyncConnectionPool) -> None:
        self._connection = connection
        self._pool = pool

    async def receive(self, timeouts: StepTimeouts) -> bytes | None:
        return await self._connection.receive_data(timeouts)

    def receive_ready(self) -> bytes | Sentinel | None:
        return self._connection.receive_ready()

    async def finish(self) -> bool:
        kept_alive = self._connection.reusable
        await self._pool.release(self._connection)
        return kept_alive

    def finish_ready(self) -> bool | None:
        return True if self._pool.keep(self._connection) else None

    async def aclose(self) -> None:
        await self._pool.discard(self._connection)


class AsyncHTTPTransport(AsyncBaseTransport):
    """HTTP/1.1 over the network, through ``pool``."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def handle_async_request(
        self, request: AsyncRequest, timeouts: StepTimeouts, trace: Trace | None
    ) -> tuple[ResponseHead, AsyncResponseBody]:
        """Raises LocalProtocolError, RemoteProtocolError, NetworkError (ConnectError),
        ClientTimeout, ClientClosed."""
        # RFC 9112 §9.3.1: retry once, and only what can be sent again unchanged.
        retry = request.method in IDEMPOTENT_METHODS and request.body is not None
        fresh = False
        while True:
            origin = request.url.origin
            connection = None if fresh else self.pool.take_idle(origin)
            if connection is None:
                connection = await self.pool.acquire(origin, timeouts, trace, fresh=fresh)
            if trace is not None and connection.reused:
                trace("reused", b"")
            if connection.proxy is None:
                target, headers = request.url.target, request.headers
            else:
                target, headers = _proxied(connection.proxy, request)
            try:
                await connection.send_request(
                    request.method,
                    target,
                    headers,
                    request.body,
                    request.pieces,
                    timeouts,
                    trace,
                    expect_continue=request.expect_continue,
                )
                head = await connection.receive_head(timeouts, trace)
            except StaleConnection:
                await self.pool.discard(connection)
                if not retry:
                    raise
                # A new connection: another idle one may well be just as stale (the
                # server timed out the idle connections of a burst at once).
                retry, fresh = False, True
                continue
            except BaseException:
                await self.pool.discard(connection)
                raise
            return head, _PooledBody(connection, self.pool)

    async def aclose(self) -> None:
        await self.pool.aclose()


def _proxied(proxy: Proxy, request: AsyncRequest) -> tuple[bytes, Headers]:
    """The request target and header fields to send to ``proxy``: through its tunnel
    (https), as to the origin."""
    url, target, headers = request.url, request.url.target, request.headers
    if url.scheme == "http":
        # RFC 9112 §3.2.2: to a proxy, the absolute form (Host stays, as it must).
        target = b"http://" + url.authority + target
        headers = [*headers, *proxy.headers]
    return target, headers
