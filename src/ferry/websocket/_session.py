"""One WebSocket connection under an ASGI application (ASGI WebSocket spec 2.4).

The HTTP protocol hands the connection over once it has parsed an upgrade request: from
then on it forwards ``data_received``, ``eof_received``, ``connection_lost`` and
``shutdown`` here. Phases, in order::

    CONNECTING  the app has the websocket.connect; the engine still holds the request
      -> OPEN   websocket.accept: the 101 is out, wsproto frames from now on
      -> DENIED websocket.http.response.start: an HTTP response instead of the 101
    OPEN -> CLOSING   a close frame was sent or received; waiting for its answer
         -> CLOSED    the transport is closing or lost

The app learns of the end through ``websocket.disconnect`` with the close code.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
from typing import Any, Protocol

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    TextMessage,
)

from .._errors import ClientDisconnected, LocalProtocolError
from ..asgi._types import ASGIApp, Message, Scope
from ..http1 import Request, ServerConnection
from ._handshake import WebSocketSettings, accept_fields

__all__ = ["Channel", "WebSocketSession"]

logger = logging.getLogger("ferry.error")

_QUEUE_HIGH_WATER = 1 << 20  # received message bytes waiting for the app that pause reading
# Bytes a client may send before the app has accepted; past them reading pauses until the
# accept (a client that floods a handshake the app is still deciding on is not buffered).
_PENDING_LIMIT = 1 << 16
_CONNECT: Message = {"type": "websocket.connect"}


class Phase(enum.Enum):
    CONNECTING = "CONNECTING"
    OPEN = "OPEN"
    DENIED = "DENIED"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"


class Channel(Protocol):
    """What a session needs from the connection it runs on (the HTTP protocol)."""

    transport: asyncio.Transport
    conn: ServerConnection

    @property
    def write_paused(self) -> bool: ...
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def send_error(self, status: int, message: str) -> int: ...


class WebSocketSession:
    """The ASGI ``receive``/``send`` of one WebSocket, and the wire events that feed it."""

    __slots__ = (
        "_channel",
        "_close_timer",
        "_denial_headers",
        "_denial_status",
        "_fragments",
        "_fragments_size",
        "_loop",
        "_ping_timer",
        "_queue",
        "_queued",
        "_read_paused",
        "_request",
        "_response_started",
        "_settings",
        "_waiter",
        "_ws",
        "close_code",
        "close_reason",
        "connect_sent",
        "phase",
        "scope",
    )

    def __init__(
        self,
        channel: Channel,
        request: Request,
        scope: Scope,
        settings: WebSocketSettings,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._channel = channel
        self._request = request
        self.scope = scope
        self._settings = settings
        self._loop = loop
        self._ws: Connection | None = None
        self.phase = Phase.CONNECTING
        self._queue: collections.deque[Message] = collections.deque()
        self._queued = 0  # payload bytes in _queue
        self._fragments: list[Any] = []  # the pieces of a message still arriving
        self._fragments_size = 0
        self._waiter: asyncio.Future[None] | None = None
        self._read_paused = False
        self._response_started = False
        self._denial_status = 0
        self._denial_headers: list[tuple[bytes, bytes]] = []
        self._ping_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self.connect_sent = False
        self.close_code: int | None = None  # set once the app is to see a disconnect
        self.close_reason = ""

    # -- running the application --------------------------------------------------------

    async def run(self, app: ASGIApp) -> None:
        """Call the app and make good on what it left undone (or failed to do)."""
        try:
            await app(self.scope, self.receive, self.send)
        except Exception as exc:
            if not (self.phase is Phase.CLOSED and isinstance(exc, OSError)):
                logger.error("exception in ASGI application", exc_info=exc)
            self._app_failed("exception in ASGI application")
            return
        if self.phase is Phase.CONNECTING:
            logger.error("the ASGI application returned without accepting the WebSocket")
            self._app_failed("no response from the application")
        elif self.phase is Phase.OPEN:
            self._send_close(1000, "")
        elif self.phase is Phase.DENIED:
            logger.error("the ASGI application returned without completing its response")
            self._app_failed("incomplete response")

    def _app_failed(self, message: str) -> None:
        phase = self.phase
        if phase is Phase.CONNECTING or phase is Phase.DENIED:
            # A 500 if nothing was sent yet; else send_error aborts the connection.
            self.phase = Phase.CLOSED
            self._channel.send_error(500, message)
        elif phase is Phase.OPEN:
            self._send_close(1011, "")  # RFC 6455 §7.4.1: an unexpected condition
            self._close_transport()
        else:
            self._close_transport()

    # -- receive ----------------------------------------------------------------------

    async def receive(self) -> Message:
        """websocket.connect first, then websocket.receive messages; websocket.disconnect
        once the connection is closing or closed."""
        if not self.connect_sent:
            self.connect_sent = True
            return _CONNECT
        while not self._queue:
            if self.close_code is not None:
                return {
                    "type": "websocket.disconnect",
                    "code": self.close_code,
                    "reason": self.close_reason,
                }
            waiter = self._waiter = self._loop.create_future()
            await waiter
        message = self._queue.popleft()
        self._queued -= len(message.get("bytes") or message.get("text") or "")
        if self._read_paused and self._queued < _QUEUE_HIGH_WATER // 2:
            self._read_paused = False
            self._channel.transport.resume_reading()
        return message

    def _deliver(self, message: Message, size: int) -> None:
        self._queue.append(message)
        self._queued += size
        if self._queued >= _QUEUE_HIGH_WATER and not self._read_paused:
            # The app reads slower than the client sends: stop reading (TCP pushes back).
            self._read_paused = True
            self._channel.transport.pause_reading()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _disconnect(self, code: int, reason: str = "") -> None:
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        self._wake()

    # -- send -------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        """Handle one message from the app. Raises ClientDisconnected once the connection
        is closed, LocalProtocolError for a message that does not fit the phase."""
        kind = message["type"]
        phase = self.phase
        if phase is Phase.CONNECTING:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                # ASGI: a close before the accept rejects the handshake with a 403.
                self.phase = Phase.CLOSED
                self._channel.send_error(403, "the application rejected the WebSocket")
                self._disconnect(1006)
            elif kind == "websocket.http.response.start":
                self._response_start(message)
            else:
                raise LocalProtocolError(f"{kind!r} before websocket.accept")
        elif phase is Phase.OPEN:
            if kind == "websocket.send":
                await self._send_message(message)
            elif kind == "websocket.close":
                self._send_close(message.get("code") or 1000, message.get("reason") or "")
            else:
                raise LocalProtocolError(f"{kind!r} on an open WebSocket")
        elif phase is Phase.DENIED:
            if kind != "websocket.http.response.body":
                raise LocalProtocolError(f"{kind!r} in a denial response")
            self._response_body(message)
        elif kind == "websocket.close":
            return  # already closing: nothing more to say
        else:
            raise ClientDisconnected("the WebSocket is closed")

    def _accept(self, message: Message) -> None:
        subprotocol = message.get("subprotocol")
        headers, extensions = accept_fields(self._request, subprotocol, self._settings)
        extra = [(bytes(name).lower(), bytes(value)) for name, value in message.get("headers", ())]
        channel = self._channel
        head, trailing = channel.conn.send_switching_protocols(headers + extra)
        channel.write(head)
        self._ws = Connection(ConnectionType.SERVER, extensions)
        self.phase = Phase.OPEN
        self._schedule_ping()
        if trailing:  # frames the client sent right after its request
            self.data_received(trailing)
        if self._read_paused and self._queued < _QUEUE_HIGH_WATER // 2:
            self._read_paused = False  # paused while the app decided (_PENDING_LIMIT)
            channel.transport.resume_reading()

    def _response_start(self, message: Message) -> None:
        self.phase = Phase.DENIED
        self._channel.conn.keep_alive = False  # the connection ends with the response
        self._denial_status = int(message["status"])
        self._denial_headers = [(bytes(n), bytes(v)) for n, v in message.get("headers", ())]

    def _response_body(self, message: Message) -> None:
        body = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        channel = self._channel
        conn = channel.conn
        if not self._response_started:
            self._response_started = True
            data = conn.send_response(
                self._denial_status, self._denial_headers, body=body, end=not more
            )
        else:
            data = conn.send_data(body) if body else b""
            if not more:
                data += conn.send_end()
        channel.write(data)
        if not more:
            self.phase = Phase.CLOSED
            self._disconnect(1006)
            self._close_transport()

    async def _send_message(self, message: Message) -> None:
        text = message.get("text")
        data = message.get("bytes")
        if (text is None) == (data is None):
            raise LocalProtocolError("websocket.send needs exactly one of text and bytes")
        self._write(TextMessage(data=str(text)) if data is None else BytesMessage(data=bytes(data)))
        channel = self._channel
        if channel.write_paused:
            await channel.drain()
            if self.phase is Phase.CLOSED:
                raise ClientDisconnected("the WebSocket is closed")

    def _write(self, event: Event) -> None:
        assert self._ws is not None
        self._channel.write(self._ws.send(event))

    def _send_close(self, code: int, reason: str) -> None:
        """Start the closing handshake (RFC 6455 §7.1.2) and wait for the answer."""
        ws = self._ws
        if ws is None or ws.state is not ConnectionState.OPEN:
            return
        self._write(CloseConnection(code=code, reason=reason or None))
        self.phase = Phase.CLOSING
        self._disconnect(code, reason)
        self._cancel_ping()
        self._close_timer = self._loop.call_later(
            self._settings.ping_timeout, self._close_transport
        )

    # -- keepalive ----------------------------------------------------------------------

    def _schedule_ping(self) -> None:
        interval = self._settings.ping_interval
        if interval is not None:
            self._ping_timer = self._loop.call_later(interval, self._ping)

    def _ping(self) -> None:
        if self.phase is Phase.OPEN:
            self._write(Ping(payload=b"ferry"))
            self._ping_timer = self._loop.call_later(
                self._settings.ping_timeout, self._ping_timed_out
            )

    def _ping_timed_out(self) -> None:
        self._ping_timer = None
        self._send_close(1011, "keepalive ping timeout")
        self._close_transport()

    def _cancel_ping(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None

    # -- what the HTTP protocol forwards ------------------------------------------------

    def data_received(self, data: bytes) -> None:
        ws = self._ws
        if ws is None:
            # Not accepted yet: the bytes wait in the engine and come back with the 101.
            channel = self._channel
            channel.conn.receive_data(data)
            if channel.conn.trailing_data >= _PENDING_LIMIT and not self._read_paused:
                self._read_paused = True
                channel.transport.pause_reading()
            return
        if self.phase is Phase.CLOSED:
            return
        ws.receive_data(data)
        for event in ws.events():
            self._handle(event)

    def _handle(self, event: Event) -> None:
        if isinstance(event, TextMessage | BytesMessage):
            self._message_piece(event)
        elif isinstance(event, Ping):
            if self.phase is Phase.OPEN:  # once closing, wsproto sends only the close
                self._write(event.response())
        elif isinstance(event, Pong):
            self._cancel_ping()
            self._schedule_ping()
        elif isinstance(event, CloseConnection):
            self._peer_closed(event)

    def _message_piece(self, event: TextMessage | BytesMessage) -> None:
        if self.phase is not Phase.OPEN:
            return  # data after our close frame: RFC 6455 §5.5.1 lets us discard it
        self._fragments.append(event.data)
        self._fragments_size += len(event.data)
        if self._fragments_size > self._settings.max_size:
            self._fragments.clear()
            self._send_close(1009, "message too big")  # RFC 6455 §7.4.1
            return
        if not event.message_finished:
            return
        size = self._fragments_size
        if isinstance(event, TextMessage):
            message: Message = {"type": "websocket.receive", "text": "".join(self._fragments)}
        else:
            message = {"type": "websocket.receive", "bytes": b"".join(self._fragments)}
        self._fragments = []
        self._fragments_size = 0
        self._deliver(message, size)

    def _peer_closed(self, event: CloseConnection) -> None:
        ws = self._ws
        assert ws is not None
        if ws.state is ConnectionState.REMOTE_CLOSING:
            # RFC 6455 §5.5.1: answer with a close frame (echoing the code), then the
            # server closes the TCP connection first (§7.1.1).
            self._write(event.response())
        elif ws.state is ConnectionState.OPEN:
            # Not the client's close but wsproto's verdict on a broken frame (1002, 1007):
            # §7.1.7, fail the connection: say why, then close.
            self._write(CloseConnection(code=event.code, reason=event.reason))
        self._disconnect(int(event.code), event.reason or "")
        self._close_transport()

    def eof_received(self) -> None:
        self._disconnect(1006)
        self._close_transport()

    def connection_lost(self) -> None:
        self.phase = Phase.CLOSED
        self._cancel_ping()
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._disconnect(1006)  # RFC 6455 §7.1.5: closed without a close frame

    def shutdown(self) -> None:
        """Server shutdown: close with 1001 Going Away (RFC 6455 §7.4.1)."""
        if self.phase is Phase.OPEN:
            self._send_close(1001, "server shutdown")
        elif self.phase is Phase.CONNECTING:
            self._channel.conn.keep_alive = False

    def _close_transport(self) -> None:
        self.phase = Phase.CLOSED
        self._cancel_ping()
        self._disconnect(1006)
        self._channel.transport.close()
