"""Transports that answer in-process: an ASGI app (``ASGITransport``) or a function
(``MockTransport``). Each serves both clients: ``AsyncClient`` calls
``handle_async_request``, ``Client`` calls ``handle_request``.

The blocking client's ASGI transport runs the app on a private event loop, created on
first use and closed by ``Client.close()``; the loop runs only while the client waits for
the app (for the response head, then for each piece of the body), so the app's response
streams as it would over a connection. It cannot be used from a thread whose event loop
is running (use ``AsyncClient`` there).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

from .._errors import ReadTimeout, RemoteProtocolError
from ..asgi import ASGIApp, Message, Scope
from ..asgi._scope import ScopeTemplates, build_scope
from ..http1 import ClientConnection, Fields, Headers, reason_phrase
from ..http1 import Request as RequestHead
from ..http1 import Response as ResponseHead
from ._async._backend import Trace
from ._async._transports import AsyncBaseTransport, AsyncRequest, AsyncResponseBody
from ._limits import StepTimeouts
from ._models import URL, HeaderInput, encode_headers
from ._sync._transports import BaseTransport, Request, ResponseBody

__all__ = ["ASGITransport", "MockRequest", "MockResponse", "MockTransport"]

_Event = tuple[str, object]  # ("start", head) | ("body", bytes) | ("end", None) | ("error", exc)


class ASGITransport(AsyncBaseTransport, BaseTransport):
    """Send each request to the ASGI ``app`` in-process: the request becomes an ``http``
    scope (the server's, see ``_scope``, with only the trailers extension and an empty
    ``state``) and ``http.request`` messages; the app's ``http.response.start``, ``.body`` and
    ``.trailers`` messages become the response, streamed as the app sends them (trailers
    are accepted and dropped, as the network client does). ``client`` is the scope's
    client address. An exception the app raises reaches the caller as it is; an app that
    returns without a complete response raises RemoteProtocolError.
    """

    def __init__(self, app: ASGIApp, *, client: tuple[str, int] = ("127.0.0.1", 123)) -> None:
        self.app = app
        self.client = client
        self._loop: asyncio.AbstractEventLoop | None = None

    async def handle_async_request(
        self, request: AsyncRequest, timeouts: StepTimeouts, trace: Trace | None
    ) -> tuple[ResponseHead, AsyncResponseBody]:
        exchange = _ASGIExchange(request)
        exchange.start(self.app, _scope(request, self.client))
        return await exchange.receive_head(timeouts), exchange

    def handle_request(
        self, request: Request, timeouts: StepTimeouts, trace: Trace | None
    ) -> tuple[ResponseHead, ResponseBody]:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        pieces = None if request.pieces is None else _async_pieces(request.pieces)
        forwarded = AsyncRequest(request.method, request.url, request.headers, request.body, pieces)
        head, body = self._loop.run_until_complete(
            self.handle_async_request(forwarded, timeouts, trace)
        )
        return head, _BlockingBody(self._loop, body)

    async def aclose(self) -> None:
        """Nothing to release: each exchange ends with its response."""

    def close(self) -> None:
        """Close the private event loop of the blocking client (if one was made)."""
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.close()


def wire_headers(method: bytes, target: bytes, headers: Headers, body: bytes | None) -> Headers:
    """The header fields as the network transport would send them, with the framing field
    it adds (Content-Length, or Transfer-Encoding for a stream: ``body`` None). Raises
    LocalProtocolError for a request the network transport would refuse."""
    engine = ClientConnection()
    if body is None:
        rendered = engine.send_request(method, target, headers)
    else:
        rendered = engine.send_request(method, target, headers, body=body, end=True)
    lines = rendered[: rendered.index(b"\r\n\r\n")].split(b"\r\n")[1:]
    return [_split_field(line) for line in lines]


def _split_field(line: bytes) -> tuple[bytes, bytes]:
    name, _, value = line.partition(b": ")
    return name, value


# The extensions an in-process scope announces: the ones this transport honours. The
# server's others (early hints, pathsend, zerocopysend) are not served here, and
# ferry.exchange describes a connection, of which there is none (with it, StaticFiles
# would add Server-Timing to HTML pages).
_EXTENSIONS: Final = ("http.response.trailers",)


def _scope(request: AsyncRequest, client: tuple[str, int]) -> Scope:
    """The ``http`` scope a server would give the app for ``request`` (the ASGI layer's
    builder, from the head the network transport would send), but for the extensions:
    the ones this transport honours (``_EXTENSIONS``). No lifespan runs: ``state`` is
    empty."""
    url = request.url
    body = None if request.pieces is not None else request.body or b""
    headers = wire_headers(request.method, url.target, request.headers, body)
    path, _, query = url.target.partition(b"?")
    fields = [(name.lower(), value) for name, value in headers]
    head = RequestHead(request.method, url.target, "1.1", fields, path=path, query=query)
    template = ScopeTemplates("", url.scheme).get(head)
    server = (url.host, url.port)
    scope = build_scope(template, head, client, server, {}, 1, False, _no_preview, 0.0, 0.0)
    scope["extensions"] = {name: {} for name in _EXTENSIONS}
    return scope


def _no_preview(status: object, headers: Fields) -> bytes:
    """The ``ferry.exchange`` response head preview ``build_scope`` wants: never called,
    since the in-process scope leaves that extension out."""
    raise NotImplementedError("no connection in-process")  # pragma: no cover


class _ASGIExchange(AsyncResponseBody):
    """One request's run of the app, and the response body it sends. The app's ``send``
    waits while the client has not taken the previous message: a one-message buffer, so
    a streaming app runs at the pace of the reader, as over a connection."""

    def __init__(self, request: AsyncRequest) -> None:
        self._request = request
        self._request_sent = False
        self._events: asyncio.Queue[_Event] = asyncio.Queue(maxsize=1)
        self._response_started = False
        self._response_ended = asyncio.Event()  # then receive() says http.disconnect
        self._trailers_expected = False
        self._task: asyncio.Task[None] | None = None

    def start(self, app: ASGIApp, scope: Scope) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(app, scope))

    async def _run(self, app: ASGIApp, scope: Scope) -> None:
        try:
            await app(scope, self._receive, self._send)
        except Exception as exc:
            await self._events.put(("error", exc))
            return
        if not self._response_ended.is_set():
            error = RemoteProtocolError("the ASGI app returned without a complete response")
            await self._events.put(("error", error))

    async def _receive(self) -> Message:
        if not self._request_sent:
            return await self._request_message()
        await self._response_ended.wait()
        return {"type": "http.disconnect"}

    async def _request_message(self) -> Message:
        pieces = self._request.pieces
        if pieces is None:
            self._request_sent = True
            return {"type": "http.request", "body": self._request.body or b"", "more_body": False}
        async for piece in pieces:
            if piece:
                return {"type": "http.request", "body": piece, "more_body": True}
        self._request_sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if self._response_ended.is_set():
            raise RuntimeError(f"{kind} after the response ended")
        if kind == "http.response.start" and not self._response_started:
            self._response_started = True
            self._trailers_expected = bool(message.get("trailers", False))
            await self._events.put(("start", _head(message)))
        elif kind == "http.response.body" and self._response_started:
            if body := bytes(message.get("body", b"")):
                await self._events.put(("body", body))
            if not message.get("more_body", False) and not self._trailers_expected:
                await self._end()
        elif kind == "http.response.trailers" and self._trailers_expected:
            if not message.get("more_trailers", False):
                await self._end()
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    async def _end(self) -> None:
        self._response_ended.set()
        await self._events.put(("end", None))

    async def _next(self, timeouts: StepTimeouts) -> _Event:
        try:
            async with asyncio.timeout(timeouts.read):
                kind, value = await self._events.get()
        except TimeoutError:
            raise ReadTimeout(f"no response from the app within {timeouts.read} s") from None
        if kind == "error":
            assert isinstance(value, BaseException)
            raise value
        return kind, value

    async def receive_head(self, timeouts: StepTimeouts) -> ResponseHead:
        try:
            _, head = await self._next(timeouts)
        except BaseException:
            await self.aclose()
            raise
        assert isinstance(head, ResponseHead)
        return head

    async def receive(self, timeouts: StepTimeouts) -> bytes | None:
        kind, value = await self._next(timeouts)
        if kind == "end":
            return None
        assert isinstance(value, bytes)
        return value

    async def finish(self) -> bool:
        """Wait for the app to return (it was told http.disconnect if it asks)."""
        if self._task is not None:
            await asyncio.wait([self._task])
        return True

    async def aclose(self) -> None:
        """Cancel the app if it is still running."""
        self._response_ended.set()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])


def _head(message: Message) -> ResponseHead:
    status = int(message["status"])
    reason = reason_phrase(status)  # the phrase the server would send (RFC 9110 §15)
    headers: Headers = [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", [])]
    return ResponseHead(status, reason, "1.1", headers)


async def _async_pieces(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


class _BlockingBody(ResponseBody):
    """An async body read from the blocking client by running the private loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, body: AsyncResponseBody) -> None:
        self._loop = loop
        self._body = body

    def receive(self, timeouts: StepTimeouts) -> bytes | None:
        return self._loop.run_until_complete(self._body.receive(timeouts))

    def finish(self) -> bool:
        return self._loop.run_until_complete(self._body.finish())

    def close(self) -> None:
        self._loop.run_until_complete(self._body.aclose())


@dataclass(frozen=True, slots=True)
class MockRequest:
    """What a ``MockTransport`` handler is given: the request as it would be sent."""

    method: str
    url: URL
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class MockResponse:
    """What a ``MockTransport`` handler returns."""

    status: int = 200
    headers: HeaderInput = None
    body: bytes = b""
    reason: str = field(default="")


class MockTransport(AsyncBaseTransport, BaseTransport):
    """Answer each request with ``handler(request)``: for tests of code that uses a
    client. The request body is read whole before the handler is called."""

    def __init__(self, handler: Callable[[MockRequest], MockResponse]) -> None:
        self.handler = handler

    async def handle_async_request(
        self, request: AsyncRequest, timeouts: StepTimeouts, trace: Trace | None
    ) -> tuple[ResponseHead, AsyncResponseBody]:
        headers = _request_headers(request.method, request.url, request.headers, request.body)
        body = await request.read()
        head, content = self._respond(request.method, request.url, headers, body)
        return head, _AsyncBytesBody(content)

    def handle_request(
        self, request: Request, timeouts: StepTimeouts, trace: Trace | None
    ) -> tuple[ResponseHead, ResponseBody]:
        headers = _request_headers(request.method, request.url, request.headers, request.body)
        body = request.read()
        head, content = self._respond(request.method, request.url, headers, body)
        return head, _BytesBody(content)

    def _respond(
        self, method: bytes, url: URL, headers: Headers, body: bytes
    ) -> tuple[ResponseHead, bytes]:
        response = self.handler(MockRequest(method.decode("ascii"), url, headers, body))
        reason = response.reason.encode("latin-1")
        fields = [(name.lower(), value) for name, value in encode_headers(response.headers)]
        return ResponseHead(response.status, reason, "1.1", fields), response.body

    async def aclose(self) -> None:
        """Nothing to release."""

    def close(self) -> None:
        """Nothing to release."""


def _request_headers(method: bytes, url: URL, headers: Headers, body: bytes | None) -> Headers:
    return wire_headers(method, url.target, headers, body)


class _AsyncBytesBody(AsyncResponseBody):
    def __init__(self, content: bytes) -> None:
        self._content: bytes | None = content

    async def receive(self, timeouts: StepTimeouts) -> bytes | None:
        content, self._content = self._content, None
        return content or None

    async def finish(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._content = None


class _BytesBody(ResponseBody):
    def __init__(self, content: bytes) -> None:
        self._content: bytes | None = content

    def receive(self, timeouts: StepTimeouts) -> bytes | None:
        content, self._content = self._content, None
        return content or None

    def finish(self) -> bool:
        return True

    def close(self) -> None:
        self._content = None
