"""The client and its responses, over the connection pool."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from types import TracebackType

from ..._errors import ClientClosed, TooManyRedirects
from ...http1 import Headers
from ...http1 import Response as ResponseHead
from .._decoders import Decoder, accept_encoding, decoder_for
from .._models import (
    URL,
    Body,
    HeaderInput,
    PoolLimits,
    Timeouts,
    build_headers,
    encode_headers,
    encode_method,
    header_value,
    merge_headers,
    prepare_body,
    redirect,
)
from .._proxies import ProxyRoutes
from ._backend import Trace
from ._pool import AsyncConnectionPool
from ._transports import (
    AsyncBaseTransport,
    AsyncHTTPTransport,
    AsyncRequest,
    AsyncResponseBody,
)

__all__ = ["AsyncClient", "AsyncResponse"]

_BLOCK = 65536

_Request = tuple[bytes, URL, Headers, Body]
"""(method, URL, the caller's header fields, body): what a redirect may change."""


class AsyncResponse:
    """A response whose body is read on demand: ``read()`` it whole or iterate over
    ``iter_bytes()``. The connection goes back to the pool when the body has been read to
    its end, and is closed by ``aclose()`` if it was not."""

    def __init__(
        self,
        url: URL,
        head: ResponseHead,
        body: AsyncResponseBody,
        timeouts: Timeouts,
        decoder: Decoder,
    ) -> None:
        self.url = url
        self.status = head.status
        self.reason = head.reason.decode("latin-1")
        self.http_version = head.http_version
        self.headers: Headers = head.headers
        """Header fields as received: names lower-cased, values as bytes."""
        self.content: bytes | None = None
        """The whole (decoded) body once ``read()`` returned it."""
        self.kept_alive = False
        """Whether the connection could carry another request after this response."""
        self._body: AsyncResponseBody | None = body
        self._timeouts = timeouts
        self._decoder = decoder

    def header(self, name: str) -> str | None:
        """The field ``name`` (any case), repeated values joined with ", "; or None."""
        value = header_value(self.headers, name.lower().encode("latin-1"))
        return None if value is None else value.decode("latin-1")

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body, decoded, piece by piece. Raises RemoteProtocolError, NetworkError,
        ReadTimeout, DecodingError (the connection is then closed)."""
        if self._body is None:
            raise ClientClosed("the response body was already read or closed")
        try:
            while self._body is not None:
                if piece := await self._next_piece():
                    yield piece
        except BaseException:  # GeneratorExit too: a caller that stopped early
            await self.aclose()
            raise

    async def read(self) -> bytes:
        """The whole body, decoded (also kept as ``content``). Raises as ``iter_bytes``."""
        if self.content is None:
            if self._body is None:
                raise ClientClosed("the response body was already read or closed")
            # Not through iter_bytes: an async generator costs more than the small body
            # of a typical response takes to read.
            pieces = []
            while self._body is not None:
                pieces.append(await self._next_piece())
            self.content = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        return self.content

    async def _next_piece(self) -> bytes:
        """The next piece of the body, decoded (maybe empty). After the last one the
        connection is released and ``_body`` is None; after an error it is closed."""
        body = self._body
        assert body is not None
        try:
            data = await body.receive(self._timeouts)
            if data is not None:
                return self._decoder.decode(data)
            tail = self._decoder.flush()
        except BaseException:
            await self.aclose()
            raise
        self._body = None
        self.kept_alive = await body.finish()
        return tail

    async def text(self, encoding: str = "utf-8") -> str:
        body = await self.read()
        return body.decode(encoding, errors="replace")

    async def aclose(self) -> None:
        """Stop reading: a connection with unread body bytes is closed, not reused."""
        body, self._body = self._body, None
        if body is not None:
            await body.aclose()


class AsyncClient:
    """An HTTP/1.1 client with a connection pool; ``async with`` it to close it.

    ``verify``: verify TLS certificates against the system's trust store (True), not at
    all (False), or with this SSLContext. ``uds``: send every request over this UNIX
    socket. ``max_decompression_ratio`` bounds a compressed body's growth.
    ``expect_continue_above``: send ``Expect: 100-continue`` with bodies of at least this
    many bytes (and streams of unknown size), so the server can refuse them before they
    are sent (None: never). ``follow_redirects``: follow 301/302/303/307/308 (off by
    default; each request may say otherwise), at most ``max_redirects`` in a row (then
    TooManyRedirects). ``transport``: what sends the requests (the network by default;
    ``ASGITransport(app)`` calls an ASGI app in-process, ``MockTransport(handler)`` a
    function). ``proxy``: ``http://[user:password@]host:port`` of an HTTP proxy for every
    request (``https://`` ones through a CONNECT tunnel). ``trust_env``: without a
    ``proxy``, take the proxies from ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and
    ``NO_PROXY`` (see docs/client.md). ``no_proxy``: hosts that bypass the proxy, in
    ``NO_PROXY``'s syntax (replacing the environment's).
    """

    def __init__(
        self,
        *,
        timeouts: Timeouts | None = None,
        limits: PoolLimits | None = None,
        headers: HeaderInput = None,
        verify: bool | ssl.SSLContext = True,
        uds: str | None = None,
        max_decompression_ratio: int = 1000,
        follow_redirects: bool = False,
        max_redirects: int = 10,
        expect_continue_above: int | None = None,
        transport: AsyncBaseTransport | None = None,
        proxy: str | None = None,
        no_proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        self.timeouts = timeouts or Timeouts()
        # The environment's proxies are for the network: not for a UNIX socket, nor for a
        # transport of the caller's (an ASGI app, a mock).
        from_env = trust_env and uds is None and transport is None
        proxies = ProxyRoutes.build(proxy, no_proxy, trust_env=from_env)
        self.pool = AsyncConnectionPool(
            limits or PoolLimits(), _ssl_context(verify), uds, proxies=proxies
        )
        self.transport = transport or AsyncHTTPTransport(self.pool)
        # The client's own fields replace the defaults of the same name.
        # Accept-Encoding names only the codings this installation decodes.
        defaults = [(b"Accept-Encoding", accept_encoding())]
        self._headers = merge_headers(defaults, encode_headers(headers))
        self._max_ratio = max_decompression_ratio
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.expect_continue_above = expect_continue_above

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pool's connections. Requests after this raise ClientClosed."""
        await self.transport.aclose()
        await self.pool.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: HeaderInput = None,
        body: Body = None,
        timeouts: Timeouts | None = None,
        follow_redirects: bool | None = None,
    ) -> AsyncResponse:
        """Send a request and read the whole response (``content`` holds the body).
        Raises as ``stream``, and DecodingError."""
        # What stream() does, without a context manager: this is every request's path.
        response = await self._open(method, url, headers, body, timeouts, follow_redirects)
        try:
            await response.read()
        finally:
            await response.aclose()
        return response

    async def get(self, url: str, *, headers: HeaderInput = None) -> AsyncResponse:
        return await self.request("GET", url, headers=headers)

    async def head(self, url: str, *, headers: HeaderInput = None) -> AsyncResponse:
        return await self.request("HEAD", url, headers=headers)

    async def post(
        self, url: str, *, headers: HeaderInput = None, body: Body = None
    ) -> AsyncResponse:
        return await self.request("POST", url, headers=headers, body=body)

    async def put(
        self, url: str, *, headers: HeaderInput = None, body: Body = None
    ) -> AsyncResponse:
        return await self.request("PUT", url, headers=headers, body=body)

    async def delete(self, url: str, *, headers: HeaderInput = None) -> AsyncResponse:
        return await self.request("DELETE", url, headers=headers)

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: HeaderInput = None,
        body: Body = None,
        timeouts: Timeouts | None = None,
        follow_redirects: bool | None = None,
        trace: Trace | None = None,
    ) -> AsyncIterator[AsyncResponse]:
        """Send a request; yield the response with its body unread. On leaving the block
        an unread body's connection is closed. ``trace(step, data)`` is called at each step
        of the exchange (see docs/client.md). Raises LocalProtocolError,
        RemoteProtocolError, NetworkError (ConnectError), ClientTimeout, TooManyRedirects,
        ClientClosed."""
        response = await self._open(method, url, headers, body, timeouts, follow_redirects, trace)
        try:
            yield response
        finally:
            await response.aclose()

    async def _open(
        self,
        method: str,
        url: str,
        headers: HeaderInput,
        body: Body,
        timeouts: Timeouts | None,
        follow_redirects: bool | None,
        trace: Trace | None = None,
    ) -> AsyncResponse:
        """Send the request (and follow redirects if asked to): the final response, its
        body unread."""
        request = (encode_method(method), URL.parse(url), encode_headers(headers), body)
        timeouts = timeouts or self.timeouts
        response = await self._send(*request, timeouts, trace)
        follow = self.follow_redirects if follow_redirects is None else follow_redirects
        if not follow:
            return response
        try:
            hops = 0
            while (hop := self._redirect(request, response)) is not None:
                if hops == self.max_redirects:
                    raise TooManyRedirects(f"more than {self.max_redirects} redirects")
                hops += 1
                await response.aclose()
                request = hop
                response = await self._send(*request, timeouts, trace)
        except BaseException:
            await response.aclose()
            raise
        return response

    @staticmethod
    def _redirect(request: _Request, response: AsyncResponse) -> _Request | None:
        method, url, own, body = request
        location = header_value(response.headers, b"location")
        hop = redirect(method, url, response.status, location, own)
        if hop is None:
            return None
        method, url, own, drop_body = hop
        if drop_body:
            return method, url, own, None
        if body is not None and not isinstance(body, bytes | str):
            return None  # a stream was sent and cannot be sent again: stop here
        return method, url, own, body

    async def _send(
        self,
        method: bytes,
        url: URL,
        own: Headers,
        body: Body,
        timeouts: Timeouts,
        trace: Trace | None,
    ) -> AsyncResponse:
        headers = build_headers(url, own, self._headers)
        whole, stream, length = prepare_body(body)
        threshold = self.expect_continue_above
        expect = threshold is not None and (length is None or length >= max(threshold, 1))
        if length is not None and (whole is None or expect):
            headers = [*headers, (b"Content-Length", b"%d" % length)]
        if expect:
            headers = [*headers, (b"Expect", b"100-continue")]
        pieces = None if whole is not None else _pieces(stream)
        request = AsyncRequest(method, url, headers, whole, pieces, expect)
        head, source = await self.transport.handle_async_request(request, timeouts, trace)
        decoder = decoder_for(header_value(head.headers, b"content-encoding"), self._max_ratio)
        return AsyncResponse(url, head, source, timeouts, decoder)


async def _pieces(stream: object) -> AsyncIterator[bytes]:
    """The pieces of a streamed body: a binary file's blocks, or an iterator's items."""
    read = getattr(stream, "read", None)
    if read is not None:
        while block := read(_BLOCK):
            yield block
    elif isinstance(stream, AsyncIterable):
        async for piece in stream:
            yield piece
    else:
        assert isinstance(stream, Iterable), stream  # prepare_body lets nothing else by
        for piece in stream:
            yield piece


def _ssl_context(verify: bool | ssl.SSLContext) -> ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        return verify
    context = ssl.create_default_context()  # the system's trust store
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
