"""One ASGI HTTP request/response cycle (ASGI HTTP spec 2.4).

The cycle owns the application's ``receive`` and ``send``. It reads and writes nothing
itself: it asks its ``Channel`` (the server's protocol) to write, to pause or resume
reading, and to finish the exchange.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import IO, Any, Protocol

from .._errors import ClientDisconnected, LocalProtocolError
from ..http1 import Fields, ServerConnection, State
from ._files import open_path, zerocopy_range
from ._types import Message, Scope

__all__ = ["Channel", "RequestCycle"]

_DISCONNECT: Message = {"type": "http.disconnect"}
_EMPTY_BODY: Message = {"type": "http.request", "body": b"", "more_body": False}


class Channel(Protocol):
    """What a cycle needs from the connection it runs on."""

    @property
    def write_paused(self) -> bool: ...
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    async def sendfile(self, file: IO[bytes], offset: int, count: int, head: bytes) -> None: ...
    def body_requested(self) -> None: ...
    def body_consumed(self) -> None: ...
    def response_complete(self, cycle: RequestCycle) -> None: ...


class RequestCycle:
    """The state of one request: its body queue and the progress of its response."""

    __slots__ = (
        "_body",
        "_body_done",
        "_body_sent_to_app",
        "_channel",
        "_conn",
        "_headers",
        "_peer_closed",
        "_trailers_expected",
        "_waiter",
        "body_bytes_sent",
        "body_wanted",
        "complete",
        "disconnected",
        "queued",
        "scope",
        "start_time",
        "started",
        "status",
    )

    def __init__(
        self, scope: Scope, channel: Channel, conn: ServerConnection, start_time: float
    ) -> None:
        self.scope = scope
        self._channel = channel
        self._conn = conn
        self.start_time = start_time
        self._body: list[bytes] = []
        self.queued = 0  # body bytes received and not yet handed to the app
        self._body_done = False  # the whole request body has arrived
        self._body_sent_to_app = False  # more_body=False has been handed to the app
        self.body_wanted = False  # the app has asked for the body (receive() was called)
        self._waiter: asyncio.Future[None] | None = None
        self.disconnected = False
        self._peer_closed = False  # the client half-closed after its request
        self.started = False  # http.response.start received
        self.complete = False  # the response has been fully sent
        self.status = 0
        self._headers: Fields = []
        self._trailers_expected = False
        self.body_bytes_sent = 0

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
        if self._body_done and not self._body and not self._body_sent_to_app:
            self._body_sent_to_app = True
            return _EMPTY_BODY  # the common case: a request without body
        if not self.body_wanted:
            self.body_wanted = True
            # RFC 9110 §10.1.1: 100 Continue only once the application wants the body.
            data = self._conn.send_continue()
            if data:
                self._channel.write(data)
            self._channel.body_requested()
        while True:
            if self._body:
                return self._take_body()
            if self.disconnected or self.complete or (self._peer_closed and self._body_sent_to_app):
                return _DISCONNECT
            if self._body_done and not self._body_sent_to_app:
                self._body_sent_to_app = True
                return _EMPTY_BODY
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter

    def _take_body(self) -> Message:
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self.queued = 0
        more = not self._body_done
        if not more:
            self._body_sent_to_app = True
        self._channel.body_consumed()
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
            await self._send_trailers(fields)
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

    def start_external(self, status: int, headers: Fields, size: int) -> bytes:
        """Start a response whose ``size`` body bytes the channel writes itself (a file
        answered at once, see ``ServerState.respond_now``): the head, with whatever
        framing goes before them."""
        self._start_response(status, headers, False)
        head = self._conn.send_response(status, self._headers, length=size)
        frame = self._conn.frame_external(size)
        return head + frame[0] if frame is not None else head

    def end_external(self, size: int) -> None:
        """The ``size`` bytes of ``start_external`` are written: end the response."""
        self.body_bytes_sent += size
        self._finish(self._conn.send_end())

    def _start(self, message: dict[str, Any]) -> None:
        status = message.get("status")
        if type(status) is not int:
            raise LocalProtocolError(f"http.response.start 'status' must be an int: {status!r}")
        self._start_response(status, message.get("headers", ()), bool(message.get("trailers")))

    def _start_response(self, status: int, headers: object, trailers: bool) -> None:
        if self.started:
            raise LocalProtocolError("http.response.start sent twice")
        # The engine validates every field when it renders the head (names are tokens,
        # values carry no CR, LF or NUL, both are bytes).
        # A tuple is kept as it is: the engine finds an immutable one's head by identity.
        self._headers = (
            headers if type(headers) is list or type(headers) is tuple else _header_list(headers)
        )
        self.status = status
        self._trailers_expected = trailers
        self.started = True

    def _write_body(self, message: dict[str, Any]) -> bool:
        """Write a piece of the body; True when the app must wait for the client (drain)."""
        body = message.get("body", b"")
        if type(body) is not bytes:
            if not isinstance(body, bytearray | memoryview):
                raise LocalProtocolError("http.response.body 'body' must be bytes")
            body = bytes(body)
        return self._write(body, bool(message.get("more_body", False)))

    def _write(self, body: bytes, more: bool) -> bool:
        if not self.started:
            raise LocalProtocolError("http.response.body before http.response.start")
        if self.complete:
            raise LocalProtocolError("http.response.body after the response completed")
        conn = self._conn
        self.body_bytes_sent += len(body)
        if conn.our_state is State.IDLE:
            end = not more and not self._trailers_expected
            data = conn.send_response(self.status, self._headers, body=body, end=end)
        else:
            data = conn.send_data(body)
            if not more and not self._trailers_expected:
                data += conn.send_end()
        if not more and not self._trailers_expected:
            self._finish(data)
            return False
        channel = self._channel
        channel.write(data)
        return channel.write_paused

    async def _drain(self) -> None:
        await self._channel.drain()
        if self.disconnected:
            raise ClientDisconnected("the client closed the connection")

    async def _send_path(self, message: dict[str, Any]) -> None:
        """ASGI pathsend: the whole body is the file at ``path``."""
        if not self.started or self._conn.our_state is not State.IDLE:
            raise LocalProtocolError("http.response.pathsend must carry the whole body")
        file, size = open_path(message)
        with file:
            await self._send_file_range(file, 0, size, more=False)

    async def _send_zerocopy(self, message: dict[str, Any]) -> None:
        """ASGI zerocopysend: a range of an open file, as a piece of the body."""
        if not self.started or self.complete:
            raise LocalProtocolError("http.response.zerocopysend outside a response body")
        file, offset, count, more, advance = zerocopy_range(message)
        await self._send_file_range(file, offset, count, more=more)
        if advance:
            file.seek(offset + count)

    async def _send_file_range(self, file: IO[bytes], offset: int, count: int, more: bool) -> None:
        conn = self._conn
        end = not more and not self._trailers_expected
        head = b""
        if conn.our_state is State.IDLE:
            head = conn.send_response(self.status, self._headers, length=None if more else count)
        frame = conn.frame_external(count)
        channel = self._channel
        after = b""
        if frame is not None and count:
            before, after = frame
            await channel.sendfile(file, offset, count, head + before)
            head = b""
            self.body_bytes_sent += count
            if self.disconnected:
                raise ClientDisconnected("the client closed the connection")
        if end:
            self._finish(head + after + conn.send_end())
        else:
            channel.write(head + after)

    def _early_hint(self, message: dict[str, Any]) -> None:
        """ASGI early hints: a ``103 Early Hints`` with one Link field per entry of
        ``links`` (RFC 8297), before the final response; nothing to an HTTP/1.0 client
        (RFC 9110 §15.2), which the engine knows."""
        if self.started:
            raise LocalProtocolError("http.response.early_hint after http.response.start")
        links = message.get("links", ())
        if not isinstance(links, list | tuple) or not all(type(link) is bytes for link in links):
            raise LocalProtocolError("http.response.early_hint 'links' must be a list of bytes")
        if links:
            data = self._conn.send_informational(103, [(b"link", link) for link in links])
            if data:
                self._channel.write(data)

    async def _send_trailers(self, message: dict[str, Any]) -> None:
        if not self._trailers_expected or self.complete:
            raise LocalProtocolError("http.response.trailers not announced by the response")
        if self._conn.our_state is State.IDLE:
            raise LocalProtocolError("http.response.trailers before the body")
        trailers = _header_list(message.get("headers", ()))
        if message.get("more_trailers", False):
            raise LocalProtocolError("more_trailers is not supported over HTTP/1.1")
        self._finish(self._conn.send_end(trailers))

    def _finish(self, data: bytes) -> None:
        self.complete = True
        channel = self._channel
        channel.write(data)
        if self._waiter is not None:
            self._wake()
        channel.response_complete(self)


def _header_list(headers: Any) -> Fields:
    """ASGI headers (an iterable of [name, value] pairs) as a list the engine validates."""
    if type(headers) is list:
        return headers
    if not isinstance(headers, Iterable) or isinstance(headers, bytes | str):
        raise LocalProtocolError("ASGI 'headers' must be an iterable of [name, value] pairs")
    return list(headers)
