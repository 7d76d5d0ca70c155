"""One ASGI HTTP request/response cycle (ASGI HTTP spec 2.4).

The cycle owns the application's ``receive`` and ``send``. It knows ASGI, not HTTP/1.1:
it turns the app's messages into neutral calls on its ``HTTPChannel`` (start the
response, a piece of the body, the end with trailers, an informational response, a file
range), and the channel (the server's protocol, the one driver of the engine) frames and
writes them. Its ``state`` (a ``ResponseState``) says which messages may come next.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterable
from typing import IO, Any, Final, Protocol

from .._errors import ClientDisconnected, LocalProtocolError
from ..http1 import Fields
from ._files import open_path, zerocopy_range
from ._types import Message, Scope

__all__ = ["HTTPChannel", "RequestCycle", "ResponseStart", "ResponseState"]

_DISCONNECT: Message = {"type": "http.disconnect"}
_EMPTY_BODY: Message = {"type": "http.request", "body": b"", "more_body": False}

ResponseStart = tuple[int, Fields, "int | None"]
"""(status, header fields, body length or None) of a response that starts with a file."""


class ResponseState(enum.Enum):
    """Where the response is, as the ASGI messages tell it (hypercorn's ASGIHTTPState).

    ``AWAITING_START -> STARTED -> BODY -> COMPLETE``: ASGI says the response head goes
    out with the first body message, not with ``http.response.start``, so STARTED (the
    start received, its head held) and BODY (the head handed to the channel) are apart.
    Whether response bytes are on the wire is the engine's to say
    (``ServerConnection.response_started``); this state only orders the app's messages.
    """

    AWAITING_START = "awaiting start"  # no http.response.start yet
    STARTED = "started"  # http.response.start received; the head waits for the body
    BODY = "body"  # the head is out: body pieces, a file range, the trailers
    COMPLETE = "complete"  # the whole response is out


_AWAITING_START: Final = ResponseState.AWAITING_START
_STARTED: Final = ResponseState.STARTED
_BODY: Final = ResponseState.BODY
_COMPLETE: Final = ResponseState.COMPLETE


class HTTPChannel(Protocol):
    """What a cycle needs from the connection it runs on: neutral verbs, which the
    channel turns into HTTP/1.1 (framing, keep-alive) and writes, in order.

    Each verb that starts or ends the response does so on the wire; after one that ends
    it, the cycle calls ``response_complete``. A verb given an invalid status or header
    field raises LocalProtocolError, having written nothing."""

    @property
    def write_paused(self) -> bool:
        """Whether the app must wait (``drain``) before it sends more."""

    def send_response(self, status: int, headers: Fields, body: bytes, end: bool) -> None:
        """Start the response: its head with the first piece of its body (and its end,
        if ``end``)."""

    def send_body(self, body: bytes, end: bool) -> None:
        """A piece of the started response's body (and its end, if ``end``)."""

    def end_response(self, trailers: Fields | None) -> None:
        """End the started response's body, with ``trailers`` (chunked framing only)."""

    def send_informational(self, status: int, headers: Fields) -> None:
        """A 1xx response before the final one (nothing to an HTTP/1.0 client)."""

    async def send_file_range(
        self, file: IO[bytes], offset: int, count: int, end: bool, start: ResponseStart | None
    ) -> int:
        """``count`` bytes of ``file`` from ``offset`` as a piece of the body, starting
        the response first if ``start`` is given, and ending it if ``end``. Returns the
        body bytes sent (0 for a response without body, such as HEAD's)."""

    async def drain(self) -> None:
        """Wait until the client has taken enough, or the connection is lost."""

    def body_requested(self) -> None:
        """The app waits for the request body (a ``100 Continue`` may be owed)."""

    def body_consumed(self) -> None:
        """The app has taken the queued body: reading may go on."""

    def response_complete(self, cycle: RequestCycle) -> None:
        """The response is all out: the exchange is over."""

    def app_failed(self, cycle: RequestCycle, message: str) -> None:
        """The app failed its request (raised, returned early, was cancelled): a 500 if
        nothing was sent yet, else the connection is aborted."""


class RequestCycle:
    """The state of one request: its body queue and the progress of its response.

    The response's progress is one ``ResponseState``. The request side stays a few
    flags, because they are independent facts, not steps of one sequence: whether the
    app has asked for the body, whether the whole body has arrived, whether the client
    has half-closed, whether it is gone. (The body's arrival and its hand-over to the
    app are in order, and ``_body_done``/``_body_handed`` could be one three-valued
    state; as two flags the common test of ``receive`` stays one line.)
    """

    __slots__ = (
        "_body",
        "_body_done",
        "_body_handed",
        "_headers",
        "_peer_closed",
        "_trailers_expected",
        "_waiter",
        "body_bytes_sent",
        "body_wanted",
        "channel",
        "disconnected",
        "queued",
        "scope",
        "start_time",
        "state",
        "status",
    )

    def __init__(self, scope: Scope, channel: HTTPChannel, start_time: float) -> None:
        self.scope = scope
        self.channel = channel
        """The connection this cycle runs on (its ``app_failed`` is the runner's)."""
        self.start_time = start_time
        self._body: list[bytes] = []
        self.queued = 0  # body bytes received and not yet handed to the app
        self._body_done = False  # the whole request body has arrived
        self._body_handed = False  # more_body=False has been handed to the app
        self.body_wanted = False  # the app has asked for the body (receive() was called)
        self._waiter: asyncio.Future[None] | None = None
        self.disconnected = False
        self._peer_closed = False  # the client half-closed after its request
        self.state = _AWAITING_START
        self.status = 0
        self._headers: Fields = []
        self._trailers_expected = False
        self.body_bytes_sent = 0

    @property
    def started(self) -> bool:
        """Whether the app has sent ``http.response.start``."""
        return self.state is not _AWAITING_START

    @property
    def complete(self) -> bool:
        """Whether the whole response has been sent."""
        return self.state is _COMPLETE

    @property
    def response_fields(self) -> Fields:
        """The response's header fields as the application gave them (none before
        ``http.response.start``); the access log's {name}o atoms read them."""
        return self._headers

    # -- what the server tells the cycle ----------------------------------------------

    def feed_body(self, data: bytes) -> None:
        self._body.append(data)
        self.queued += len(data)
        self._wake()

    def feed_end(self) -> None:
        self._body_done = True
        if self._waiter is not None:
            self._wake()

    def disconnect(self) -> None:
        """The client went away (or the request failed): receive() gives http.disconnect."""
        self.disconnected = True
        self._wake()

    def peer_closed(self) -> None:
        """The client closed its sending side after a complete request: once the body has
        been handed over, receive() gives http.disconnect; send() still works."""
        self._peer_closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- receive ----------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next ASGI ``http.request`` piece, or ``http.disconnect``."""
        if self._body_done and not self._body and not self._body_handed:
            self._body_handed = True
            return _EMPTY_BODY  # the common case: a request without body
        if not self.body_wanted:
            self.body_wanted = True
            # RFC 9110 §10.1.1: 100 Continue only once the application wants the body.
            self.channel.body_requested()
        while True:
            if self._body:
                return self._take_body()
            if (
                self.disconnected
                or self.state is _COMPLETE
                or (self._peer_closed and self._body_handed)
            ):
                return _DISCONNECT
            if self._body_done and not self._body_handed:
                self._body_handed = True
                return _EMPTY_BODY
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter

    def _take_body(self) -> Message:
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self.queued = 0
        more = not self._body_done
        if not more:
            self._body_handed = True
        self.channel.body_consumed()
        return {"type": "http.request", "body": body, "more_body": more}

    # -- send -------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        """Take an ASGI ``http.response.*`` message. Raises ClientDisconnected (OSError)
        once the client is gone, and LocalProtocolError for an invalid message."""
        if not isinstance(message, dict):
            raise LocalProtocolError(f"unexpected ASGI message type {None!r}")
        # Typed as a dict, the compiled accelerator reads it with dict operations.
        fields: dict[str, Any] = message
        kind = fields.get("type")
        if self.disconnected:
            raise ClientDisconnected("the client closed the connection")
        if kind == "http.response.body":
            if self._write_body(fields):
                await self._drain()
        elif kind == "http.response.start":
            self._start(fields)
        elif kind == "http.response.trailers":
            self._send_trailers(fields)
        elif kind == "http.response.early_hint":
            self._early_hint(fields)
        elif kind == "http.response.pathsend":
            await self._send_path(fields)
        elif kind == "http.response.zerocopysend":
            await self._send_zerocopy(fields)
        else:
            raise LocalProtocolError(f"unexpected ASGI message type {kind!r}")

    def respond(self, status: int, headers: Fields, body: bytes) -> None:
        """The whole response at once, from a handler that answers without waiting (see
        ``ServerState.respond_now``): what ``http.response.start`` and one final
        ``http.response.body`` would do."""
        self._start_response(status, headers, False)
        self._write(body, False)

    def start_external(self, status: int, headers: Fields) -> None:
        """Start a response whose head and body the channel writes itself (a file
        answered at once, see ``ServerState.respond_now``); ``end_external`` ends it."""
        self._start_response(status, headers, False)
        self.state = _BODY

    def end_external(self, size: int) -> None:
        """The channel has written the ``size`` body bytes of ``start_external``'s
        response, and its end: the response is complete."""
        self.body_bytes_sent += size
        self._finish()

    def _start(self, message: dict[str, Any]) -> None:
        status = message.get("status")
        if type(status) is not int:
            raise LocalProtocolError(f"http.response.start 'status' must be an int: {status!r}")
        self._start_response(status, message.get("headers", ()), bool(message.get("trailers")))

    def _start_response(self, status: int, headers: object, trailers: bool) -> None:
        if self.state is not _AWAITING_START:
            raise LocalProtocolError("http.response.start sent twice")
        # The engine validates every field when it renders the head (names are tokens,
        # values carry no CR, LF or NUL, both are bytes).
        # A tuple is kept as it is: the engine finds an immutable one's head by identity.
        self._headers = (
            headers if type(headers) is list or type(headers) is tuple else _header_list(headers)
        )
        self.status = status
        self._trailers_expected = trailers
        self.state = _STARTED

    def _write_body(self, message: dict[str, Any]) -> bool:
        """Write a piece of the body; True when the app must wait for the client (drain)."""
        body = message.get("body", b"")
        if type(body) is not bytes:
            if not isinstance(body, bytearray | memoryview):
                raise LocalProtocolError("http.response.body 'body' must be bytes")
            body = bytes(body)
        return self._write(body, bool(message.get("more_body", False)))

    def _write(self, body: bytes, more: bool) -> bool:
        state = self.state
        if state is _AWAITING_START:
            raise LocalProtocolError("http.response.body before http.response.start")
        if state is _COMPLETE:
            raise LocalProtocolError("http.response.body after the response completed")
        end = not more and not self._trailers_expected
        channel = self.channel
        if state is _STARTED:
            channel.send_response(self.status, self._headers, body, end)
            self.state = _BODY
        else:
            channel.send_body(body, end)
        self.body_bytes_sent += len(body)
        if end:
            self._finish()
            return False
        return channel.write_paused

    async def _drain(self) -> None:
        await self.channel.drain()
        if self.disconnected:
            raise ClientDisconnected("the client closed the connection")

    async def _send_path(self, message: dict[str, Any]) -> None:
        """ASGI pathsend: the whole body is the file at ``path``."""
        if self.state is not _STARTED:
            raise LocalProtocolError("http.response.pathsend must carry the whole body")
        file, size = open_path(message)
        with file:
            await self._send_file_range(file, 0, size, more=False)

    async def _send_zerocopy(self, message: dict[str, Any]) -> None:
        """ASGI zerocopysend: a range of an open file, as a piece of the body."""
        if self.state is _AWAITING_START or self.state is _COMPLETE:
            raise LocalProtocolError("http.response.zerocopysend outside a response body")
        file, offset, count, more, advance = zerocopy_range(message)
        await self._send_file_range(file, offset, count, more=more)
        if advance:
            file.seek(offset + count)

    async def _send_file_range(self, file: IO[bytes], offset: int, count: int, more: bool) -> None:
        end = not more and not self._trailers_expected
        start: ResponseStart | None = None
        if self.state is _STARTED:
            start = (self.status, self._headers, None if more else count)
            self.state = _BODY
        self.body_bytes_sent += await self.channel.send_file_range(file, offset, count, end, start)
        if self.disconnected:
            raise ClientDisconnected("the client closed the connection")
        if end:
            self._finish()

    def _early_hint(self, message: dict[str, Any]) -> None:
        """ASGI early hints: a ``103 Early Hints`` with one Link field per entry of
        ``links`` (RFC 8297), before the final response; nothing to an HTTP/1.0 client
        (RFC 9110 §15.2), which the channel knows."""
        if self.state is not _AWAITING_START:
            raise LocalProtocolError("http.response.early_hint after http.response.start")
        links = message.get("links", ())
        if not isinstance(links, list | tuple) or not all(type(link) is bytes for link in links):
            raise LocalProtocolError("http.response.early_hint 'links' must be a list of bytes")
        if links:
            self.channel.send_informational(103, [(b"link", link) for link in links])

    def _send_trailers(self, message: dict[str, Any]) -> None:
        if not self._trailers_expected or self.state is _COMPLETE:
            raise LocalProtocolError("http.response.trailers not announced by the response")
        if self.state is not _BODY:
            raise LocalProtocolError("http.response.trailers before the body")
        trailers = _header_list(message.get("headers", ()))
        if message.get("more_trailers", False):
            raise LocalProtocolError("more_trailers is not supported over HTTP/1.1")
        self.channel.end_response(trailers)
        self._finish()

    def _finish(self) -> None:
        """The response's end is out: complete, wake a receive() waiting, and tell the
        channel (which may go on to the next request at once)."""
        self.state = _COMPLETE
        if self._waiter is not None:
            self._wake()
        self.channel.response_complete(self)


def _header_list(headers: Any) -> Fields:
    """ASGI headers (an iterable of [name, value] pairs) as a list the engine validates."""
    if type(headers) is list:
        return headers
    if not isinstance(headers, Iterable) or isinstance(headers, bytes | str):
        raise LocalProtocolError("ASGI 'headers' must be an iterable of [name, value] pairs")
    return list(headers)
