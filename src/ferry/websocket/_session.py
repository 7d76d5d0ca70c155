"""One WebSocket connection under an ASGI application (ASGI WebSocket spec 2.4).

The HTTP protocol hands the connection over once it has parsed an upgrade request: from
then on it forwards ``data_received``, ``eof_received``, ``connection_lost`` and
``shutdown`` here. Phases, in order::

    CONNECTING  the app has the websocket.connect; the engine still holds the request
      -> OPEN   websocket.accept: the 101 is out, websockets' frame layer from now on
      -> DENIED websocket.http.response.start: an HTTP response instead of the 101
    OPEN -> CLOSING   a close frame was sent or received; waiting for its answer
         -> CLOSED    the transport is closing or lost

The app learns of the end through ``websocket.disconnect`` with the close code.

The frame layer is ``websockets.protocol.Protocol`` created already OPEN (the handshake
is ours): it parses and unmasks frames (in C), enforces the message size limit, answers
pings and close frames, and tells us when to end the TCP connection (``SEND_EOF``).
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import struct
from collections.abc import Callable
from typing import Protocol as TypingProtocol
from typing import cast

from websockets.exceptions import ProtocolError as FrameError
from websockets.frames import BINARY, CLOSE, CONT, PONG, TEXT, Frame
from websockets.protocol import OPEN, SEND_EOF, SERVER
from websockets.protocol import Protocol as FrameLayer

from .._errors import ClientDisconnected, LocalProtocolError
from ..asgi._types import ASGIApp, Message, Scope
from ..http1 import Fields, Request
from ._handshake import WebSocketSettings, accept_fields

__all__ = ["HandshakeLog", "WebSocketChannel", "WebSocketSession"]

logger = logging.getLogger("ferry.error")

_QUEUE_HIGH_WATER = 1 << 20  # received message bytes waiting for the app that pause reading
# Bytes a client may send before the app has accepted; past them reading pauses until the
# accept (a client that floods a handshake the app is still deciding on is not buffered).
_PENDING_LIMIT = 1 << 16
_CONNECT: Message = {"type": "websocket.connect"}
_PING_PAYLOAD = b"ferry"
# RFC 6455 §5.2: the first byte of an unfragmented text (binary) frame, and the extended
# payload length headers (16-bit, 64-bit, network order) after the second byte.
_FIN_TEXT, _FIN_BINARY = 0x81, 0x82
_SHORT_HEAD = struct.Struct("!BBH")
_LONG_HEAD = struct.Struct("!BBQ")

HandshakeLog = Callable[[int, int], None]
"""Called once, when the handshake is answered: (status, response body bytes sent)."""


class Phase(enum.Enum):
    CONNECTING = "CONNECTING"
    OPEN = "OPEN"
    DENIED = "DENIED"
    CLOSING = "CLOSING"
    CLOSED = "CLOSED"


_OPEN = Phase.OPEN
_CLOSED = Phase.CLOSED


class WebSocketChannel(TypingProtocol):
    """What a session needs from the connection it runs on (the HTTP protocol, which
    alone drives the HTTP/1.1 engine: the 101, a denial response, Connection: close)."""

    transport: asyncio.Transport

    @property
    def write_paused(self) -> bool: ...
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def send_error(self, status: int, message: str) -> int: ...
    def hold_data(self, data: bytes) -> int:
        """Keep bytes received before the accept; how many are held."""

    def switch_protocols(self, headers: Fields, switched: Callable[[], None]) -> bytes:
        """Write the 101 (``switched`` is called just before); the bytes after the
        request."""

    def close_after_response(self) -> None: ...
    def send_response(self, status: int, headers: Fields, body: bytes, end: bool) -> None: ...
    def send_body(self, body: bytes, end: bool) -> None: ...


def _no_log(status: int, body_bytes: int) -> None:
    """The default HandshakeLog: log nothing."""


class WebSocketSession:
    """The ASGI ``receive``/``send`` of one WebSocket, and the wire events that feed it."""

    __slots__ = (
        "_channel",
        "_close_timer",
        "_denial_headers",
        "_denial_sent",
        "_denial_status",
        "_fragments",
        "_fragments_text",
        "_log",
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
        channel: WebSocketChannel,
        request: Request,
        scope: Scope,
        settings: WebSocketSettings,
        loop: asyncio.AbstractEventLoop,
        log: HandshakeLog = _no_log,
    ) -> None:
        self._channel = channel
        self._request = request
        self.scope = scope
        self._settings = settings
        self._loop = loop
        self._log: HandshakeLog | None = log  # None once the line is written
        self._ws: FrameLayer | None = None
        self.phase = Phase.CONNECTING
        self._queue: collections.deque[Message] = collections.deque()
        self._queued = 0  # payload bytes in _queue
        self._fragments: list[bytes] = []  # the pieces of a message still arriving
        self._fragments_text = False
        # The app's receive() waiting: given the next message, or None to look again.
        self._waiter: asyncio.Future[Message | None] | None = None
        self._read_paused = False
        self._response_started = False
        self._denial_status = 0
        self._denial_sent = 0
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
            if not (self.phase is _CLOSED and isinstance(exc, OSError)):
                logger.error("exception in ASGI application", exc_info=exc)
            self._app_failed("exception in ASGI application")
            return
        if self.phase is Phase.CONNECTING:
            logger.error("the ASGI application returned without accepting the WebSocket")
            self._app_failed("no response from the application")
        elif self.phase is _OPEN:
            self._send_close(1000, "")
        elif self.phase is Phase.DENIED:
            logger.error("the ASGI application returned without completing its response")
            self._app_failed("incomplete response")

    def _app_failed(self, message: str) -> None:
        phase = self.phase
        if phase is Phase.CONNECTING or phase is Phase.DENIED:
            # A 500 if nothing was sent yet; else send_error aborts the connection.
            self.phase = _CLOSED
            sent = self._channel.send_error(500, message)
            if self._response_started:
                self._log_handshake(self._denial_status, self._denial_sent)
            else:
                self._log_handshake(500, sent)
        elif phase is _OPEN:
            self._send_close(1011, "")  # RFC 6455 §7.4.1: an unexpected condition
            self._close_transport()
        else:
            self._close_transport()

    def _log_handshake(self, status: int, body_bytes: int) -> None:
        log = self._log
        if log is not None:
            self._log = None
            log(status, body_bytes)

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
            handed: Message | None = await waiter
            if handed is not None:
                return handed  # handed over directly: it never was in the queue
        message = self._queue.popleft()
        self._queued -= len(message.get("bytes") or message.get("text") or "")
        if self._read_paused and self._queued < _QUEUE_HIGH_WATER // 2:
            self._read_paused = False
            self._channel.transport.resume_reading()
        return message

    def _deliver(self, message: Message, size: int) -> None:
        waiter = self._waiter
        if waiter is not None and not self._queue:
            # The app is waiting for exactly this: no queue, no flow-control accounting.
            self._waiter = None
            if not waiter.done():
                waiter.set_result(message)
                return
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
        if self.phase is _OPEN and kind == "websocket.send":
            self._send_message(message)
            channel = self._channel
            if channel.write_paused:
                await channel.drain()
                if self.phase is _CLOSED:
                    raise ClientDisconnected("the WebSocket is closed")
            return
        phase = self.phase
        if phase is Phase.CONNECTING:
            self._send_connecting(kind, message)
        elif phase is _OPEN:
            if kind != "websocket.close":
                raise LocalProtocolError(f"{kind!r} on an open WebSocket")
            self._send_close(message.get("code") or 1000, message.get("reason") or "")
        elif phase is Phase.DENIED:
            if kind != "websocket.http.response.body":
                raise LocalProtocolError(f"{kind!r} in a denial response")
            self._response_body(message)
        elif kind != "websocket.close":  # a close while closing: nothing more to say
            raise ClientDisconnected("the WebSocket is closed")

    def _send_connecting(self, kind: str, message: Message) -> None:
        if kind == "websocket.accept":
            self._accept(message)
        elif kind == "websocket.close":
            # ASGI: a close before the accept rejects the handshake with a 403.
            self.phase = _CLOSED
            sent = self._channel.send_error(403, "the application rejected the WebSocket")
            self._log_handshake(403, sent)
            self._disconnect(1006)
        elif kind == "websocket.http.response.start":
            self._response_start(message)
        else:
            raise LocalProtocolError(f"{kind!r} before websocket.accept")

    def _accept(self, message: Message) -> None:
        subprotocol = message.get("subprotocol")
        headers, extensions = accept_fields(self._request, subprotocol, self._settings)
        extra = [(bytes(name).lower(), bytes(value)) for name, value in message.get("headers", ())]
        channel = self._channel
        # Logged before the 101 leaves: the line is there once the client has it.
        trailing = channel.switch_protocols(headers + extra, self._log_accepted)
        ws = self._ws = FrameLayer(SERVER, state=OPEN, max_size=self._settings.max_size)
        ws.extensions = extensions
        self.phase = _OPEN
        self._schedule_ping()
        if trailing:  # frames the client sent right after its request
            self.data_received(trailing)
        if self._read_paused and self._queued < _QUEUE_HIGH_WATER // 2:
            self._read_paused = False  # paused while the app decided (_PENDING_LIMIT)
            channel.transport.resume_reading()

    def _log_accepted(self) -> None:
        self._log_handshake(101, 0)

    def _response_start(self, message: Message) -> None:
        self.phase = Phase.DENIED
        self._channel.close_after_response()  # the connection ends with the response
        self._denial_status = int(message["status"])
        self._denial_headers = [(bytes(n), bytes(v)) for n, v in message.get("headers", ())]

    def _response_body(self, message: Message) -> None:
        body = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        channel = self._channel
        if not self._response_started:
            self._response_started = True
            channel.send_response(self._denial_status, self._denial_headers, body, not more)
        else:
            channel.send_body(body, not more)
        self._denial_sent += len(body)
        if not more:
            self._log_handshake(self._denial_status, self._denial_sent)
            self.phase = _CLOSED
            self._disconnect(1006)
            self._close_transport()

    def _send_message(self, message: Message) -> None:
        text = message.get("text")
        data = message.get("bytes")
        if data is None and text is not None:
            payload, first_byte = text.encode(), _FIN_TEXT
        elif text is None and data is not None:
            payload, first_byte = data, _FIN_BINARY
        else:
            raise LocalProtocolError("websocket.send needs exactly one of text and bytes")
        ws = self._ws
        assert ws is not None
        if ws.extensions:  # permessage-deflate: the frame layer compresses
            if first_byte == _FIN_TEXT:
                ws.send_text(payload)
            else:
                ws.send_binary(payload)
            self._flush()
            return
        # Without extensions a whole message is one frame whose bytes are fixed by RFC 6455
        # §5.2 (FIN, opcode, unmasked length, payload): writing them here skips the frame
        # layer's Frame object and BytesIO, a quarter of the cost of an echo. The frame
        # layer keeps no state for sent data frames (we never fragment), so it stays in
        # step; the phase is OPEN, so it has not sent a close frame.
        size = len(payload)
        if size < 126:
            self._channel.write(bytes((first_byte, size)) + payload)
        elif size < 65536:
            self._channel.write(_SHORT_HEAD.pack(first_byte, 126, size) + payload)
        else:  # large: two writes rather than a copy of the payload
            self._channel.write(_LONG_HEAD.pack(first_byte, 127, size))
            self._channel.write(payload)

    def _flush(self) -> None:
        """Write what the frame layer has to send; its end-of-stream mark (SEND_EOF: the
        closing handshake is over, or the connection failed) ends the connection."""
        assert self._ws is not None
        for data in self._ws.data_to_send():
            if data == SEND_EOF:
                self._frames_ended()
            else:
                self._channel.write(data)

    def _send_close(self, code: int, reason: str) -> None:
        """Start the closing handshake (RFC 6455 §7.1.2) and wait for the answer."""
        ws = self._ws
        if ws is None or self.phase is not _OPEN:
            return
        try:
            ws.send_close(code, reason)
        except FrameError as exc:  # a code RFC 6455 §7.4 does not let an endpoint send
            raise LocalProtocolError(f"websocket.close with code {code}: {exc}") from None
        self._flush()
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
        if self.phase is _OPEN and self._ws is not None:
            self._ws.send_ping(_PING_PAYLOAD)
            self._flush()
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
            if channel.hold_data(data) >= _PENDING_LIMIT and not self._read_paused:
                self._read_paused = True
                channel.transport.pause_reading()
            return
        if self.phase is _CLOSED:
            return
        ws.receive_data(data)
        # A server-side frame layer past the handshake yields only frames.
        for frame in cast("list[Frame]", ws.events_received()):
            opcode = frame.opcode
            if opcode is TEXT or opcode is BINARY or opcode is CONT:
                self._message_piece(frame)
            elif opcode is PONG:
                self._cancel_ping()
                self._schedule_ping()
            elif opcode is CLOSE:
                self._peer_closed()
            # PING: the frame layer has queued the pong (RFC 6455 §5.5.2).
        self._flush()

    def _message_piece(self, frame: Frame) -> None:
        if self.phase is not _OPEN:
            return  # data after our close frame: RFC 6455 §5.5.1 lets us discard it
        fragments = self._fragments
        if frame.opcode is not CONT:
            self._fragments_text = frame.opcode is TEXT
            if frame.fin:  # the usual case: a whole message in one frame
                self._message_done(bytes(frame.data))
                return
        fragments.append(bytes(frame.data))
        if frame.fin:
            self._fragments = []
            self._message_done(b"".join(fragments))

    def _message_done(self, payload: bytes) -> None:
        """Deliver a whole message; the frame layer has checked its size (max_size)."""
        if not self._fragments_text:
            self._deliver({"type": "websocket.receive", "bytes": payload}, len(payload))
            return
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            # RFC 6455 §8.1: a text message that is not UTF-8 fails the connection, 1007.
            assert self._ws is not None
            self._ws.fail(1007, "invalid UTF-8 in a text message")
            self.phase = Phase.CLOSING  # frames after this one in the same read are dropped
            return
        self._deliver({"type": "websocket.receive", "text": text}, len(payload))

    def _peer_closed(self) -> None:
        """The client's close frame: the frame layer has answered it if we had not sent
        ours (RFC 6455 §5.5.1, echoing the code); the app sees the client's code."""
        ws = self._ws
        assert ws is not None
        assert ws.close_rcvd is not None
        self._disconnect(ws.close_rcvd.code, ws.close_rcvd.reason)
        if self.phase is _OPEN:
            self.phase = Phase.CLOSING

    def _frames_ended(self) -> None:
        """The frame layer is done: RFC 6455 §7.1.1, the server closes the TCP connection
        first. After a failure (a broken frame 1002, a message too big 1009, invalid
        UTF-8 1007) the app learns the code we sent."""
        ws = self._ws
        assert ws is not None
        if ws.close_sent is not None:
            self._disconnect(ws.close_sent.code, ws.close_sent.reason)
        transport = self._channel.transport
        if ws.close_rcvd is not None or not transport.can_write_eof():
            self._close_transport()
            return
        # We failed the connection while the client may still be sending (the rest of a
        # message too big): closing now, with its bytes unread, would reset the
        # connection and could destroy our close frame on the way. Half-close instead,
        # and read on (the frame layer discards) until the client closes its side.
        self.phase = Phase.CLOSING
        self._cancel_ping()
        transport.write_eof()
        if self._close_timer is None:
            self._close_timer = self._loop.call_later(
                self._settings.ping_timeout, self._close_transport
            )

    def eof_received(self) -> None:
        self._disconnect(1006)
        self._close_transport()

    def connection_lost(self) -> None:
        self.phase = _CLOSED
        self._cancel_ping()
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._disconnect(1006)  # RFC 6455 §7.1.5: closed without a close frame

    def shutdown(self) -> None:
        """Server shutdown: close with 1001 Going Away (RFC 6455 §7.4.1)."""
        if self.phase is _OPEN:
            self._send_close(1001, "server shutdown")
        elif self.phase is Phase.CONNECTING:
            self._channel.close_after_response()

    def _close_transport(self) -> None:
        self.phase = _CLOSED
        self._cancel_ping()
        self._disconnect(1006)
        self._channel.transport.close()
