"""The server role of the HTTP/1.1 engine: bytes in, events out; calls in, bytes out.

``ServerConnection`` does no I/O. Its contract, in call order::

    receive_data(bytes)* / receive_eof()   what the client sent
    next_event() -> Request, Data*, EndOfMessage, then PAUSED (or NEED_DATA, ConnectionClosed)
    send_continue()?                       b"HTTP/1.1 100 Continue" once, when wanted
    send_response(...) -> bytes            the head (and the whole body, if given)
    send_data(bytes)* -> bytes             body pieces, framed
    send_end(trailers) -> bytes            the end of the body
    start_next_cycle()                     both sides done and keep_alive: next request

or, for a request whose ``upgrade`` the server takes up (its EndOfMessage received)::

    send_switching_protocols(headers) -> (bytes, bytes)   the 101, and the bytes after
                                                          the request: the new protocol's

A RemoteProtocolError from ``next_event`` carries the status to answer with; after it the
connection is in ERROR and ``send_response`` can still render that one error response.
"""

from __future__ import annotations

from .._errors import LocalProtocolError, RemoteProtocolError
from ._body import ChunkedReader, ContentLengthReader, Reader, chunk, last_chunk
from ._caches import request_head_cache, response_head_cache
from ._connection import Connection
from ._events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Fields,
    Request,
    Sentinel,
)
from ._framing import CHUNKED, Framing
from ._limits import Limits
from ._render import (
    ResponseSettings,
    ResponseShape,
    render_fields,
    render_head,
    render_informational,
)
from ._request_head import REQUEST_HEAD, parse_request_head
from ._scan import HeadScan
from ._state import BODY_ENDED, HEAD_SENT, NEXT_CYCLE, State, Step, advance
from ._status import status_line

__all__ = ["ServerConnection"]

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY = ContentLengthReader(0)  # shared: a reader of length 0 never changes


class ServerConnection(Connection):
    """One HTTP/1.1 connection, seen from the server. See the module docstring."""

    __slots__ = (
        "_advertise_keep_alive",
        "_continue_sent",
        "_drain_left",
        "_framing",
        "_left",
        "_limits",
        "_parsed_heads",
        "_reader",
        "_rendered_heads",
        "_request",
        "_scan",
        "_settings",
        "max_drain",
        "max_requests",
        "requests_received",
    )

    def __init__(
        self,
        limits: Limits | None = None,
        settings: ResponseSettings | None = None,
        *,
        max_requests: int | None = None,
        max_drain: int = 65536,
    ) -> None:
        super().__init__()
        self._limits = limits or Limits()
        self._settings = settings or ResponseSettings()
        # Shared with every connection made with the same objects (see _caches.py).
        self._parsed_heads = request_head_cache(self._limits)
        self._rendered_heads = response_head_cache(self._settings)
        self.max_requests = max_requests
        self.max_drain = max_drain
        self._reader: Reader | None = None
        self._request: Request | None = None
        self._scan = HeadScan(REQUEST_HEAD)  # how far an incomplete head has been checked
        self._continue_sent = False
        # Whether a response that keeps the connection open says Keep-Alive: decided by
        # the request head (``_framing.advertises_keep_alive``), False before one.
        self._advertise_keep_alive = False
        self._framing = Framing.NONE
        self._left = 0  # body bytes still owed under Framing.LENGTH
        self._drain_left = -1  # >= 0 while an unread request body is being discarded
        self.requests_received = 0

    # -- input ------------------------------------------------------------------------

    @property
    def has_pending_input(self) -> bool:
        """Whether ``next_event`` may have something to say without more bytes."""
        return bool(self._buf) or self._eof or self.their_state is not State.IDLE

    @property
    def buffered_size(self) -> int:
        """Bytes received and not yet turned into events (for read flow control)."""
        return len(self._buf)

    @property
    def response_started(self) -> bool:
        """Whether the response head of this cycle has been rendered (``send_response``):
        from then on only its body, or an abort, can follow."""
        return self.our_state is not State.IDLE

    def close_after_response(self) -> None:
        """Say that the connection ends after the current response (RFC 9112 §9.6): its
        head then carries ``Connection: close``, and ``start_next_cycle`` refuses. The
        server calls it when it shuts down, when it answers an error, and when a
        WebSocket handshake is denied."""
        self._no_reuse()

    @property
    def request(self) -> Request | None:
        """The request of the current cycle, once its head has arrived."""
        return self._request

    def end_bodiless_request(self) -> bool:
        """If the request whose head was just read has no body, take its EndOfMessage
        now and return True: the same as the ``next_event()`` that would return it, for
        the most common request at the cost of one call. Else False (nothing changes)."""
        if self._reader is _NO_BODY and self.their_state is State.SEND_BODY:
            self.their_state = BODY_ENDED
            return True
        return False

    def _next_body_event(self) -> Event | Sentinel:
        assert self._reader is not None
        while True:
            event, pos = self._reader.read(self._buf, 0, self._eof)
            self._buf = self._buf[pos:] if pos else self._buf
            if type(event) is Data:
                if self._drain_left < 0:
                    return event
                self._drain_left -= len(event.data)
                if self._drain_left < 0:
                    # Draining an unread body has a bound; past it we close instead.
                    self._no_reuse()
                    self.their_state = advance(self.their_state, Step.NO_REUSE)
                    return PAUSED
                continue
            if type(event) is EndOfMessage:
                self.their_state = BODY_ENDED
                if self._drain_left >= 0:
                    self._drain_left = -1
                    self.start_next_cycle()
                    return self.next_event()
            return event

    def _next_head(self) -> Request | ConnectionClosed | Sentinel:
        buf = self._buf
        # RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF) received
        # before the request-line; we ignore up to ``max_leading_empty_lines``.
        pos = 0
        if buf and buf[0] == 13:  # CR
            while buf.startswith(b"\r\n", pos):
                pos += 2
                if pos > 2 * self._limits.max_leading_empty_lines:
                    raise RemoteProtocolError("too many empty lines before the request line")
        checked = self._scan.checked
        if not checked and not pos:
            # The common case, a head read whole: one pass splits it from what follows.
            head, found, rest = buf.partition(b"\r\n\r\n")
            if not found:
                return self._incomplete_head(buf, pos)
        else:
            # Bytes the scan has checked hold no complete "\r\n\r\n": look from its end on.
            end = buf.find(b"\r\n\r\n", checked - 3 if checked > pos + 3 else pos)
            if end < 0:
                return self._incomplete_head(buf, pos)
            if checked:  # the head came in pieces
                self._scan.reset()
            head = buf[pos:end]
            rest = buf[end + 4 :]
        if len(head) + 4 > self._limits.max_head_size:
            raise RemoteProtocolError("request header section too large", status=431)
        # The head's lines without the empty line: the cache's key.
        parsed = self._parsed_heads.get(head)
        if parsed is None:
            parsed = parse_request_head(head + b"\r\n", self._limits)  # raises for a bad head
            self._parsed_heads.put(head, parsed)
        request, (body_length, keep_alive, advertise) = parsed
        self._buf = rest
        if request.method == b"CONNECT":
            # An origin server has no tunnel to offer (RFC 9110 §9.3.6).
            raise RemoteProtocolError("CONNECT is not supported", status=501)
        self._start_request(request, body_length, keep_alive, advertise)
        return request

    def _incomplete_head(self, buf: bytes, pos: int) -> ConnectionClosed | Sentinel:
        # Reject a head as soon as no continuation can make it valid: a bare CR (RFC 9112
        # §2.2: MUST reject or replace) or LF (§2.2: MAY accept; we do not, it is a classic
        # smuggling vector), a control character, a broken line, 414, 505.
        self._scan.scan(buf, pos, self._limits)
        pending = len(buf) - pos
        if pending >= self._limits.max_head_size:
            raise RemoteProtocolError("request header section too large", status=431)
        if self._eof:
            if pending == 0:
                self.their_state = advance(self.their_state, Step.CLOSE)
                return ConnectionClosed()
            raise RemoteProtocolError("connection closed inside the request head")
        return NEED_DATA

    def _start_request(
        self, request: Request, body_length: int, keep_alive: bool, advertise: bool
    ) -> None:
        self._request = request
        self._advertise_keep_alive = advertise
        self.requests_received += 1
        if not keep_alive or (
            self.max_requests is not None and self.requests_received >= self.max_requests
        ):
            self._no_reuse()
        if body_length == CHUNKED:
            self._reader = ChunkedReader(self._limits)
        else:
            self._reader = ContentLengthReader(body_length) if body_length else _NO_BODY
        self._continue_sent = False
        self.their_state = HEAD_SENT  # from IDLE: only an IDLE peer sends a head

    # -- output -----------------------------------------------------------------------

    def send_continue(self) -> bytes:
        """``100 Continue`` if the client is waiting for it (RFC 9110 §10.1.1), else b"".

        Call it when the application first asks for the request body.
        """
        request = self._request
        if (
            request is None
            or not request.expect_continue
            or self._continue_sent
            or self.our_state is not State.IDLE
            or self.their_state is not State.SEND_BODY
        ):
            return b""
        self._continue_sent = True
        return _CONTINUE

    def send_informational(self, status: object, headers: Fields) -> bytes:
        """A 1xx response such as 103 Early Hints; b"" to an HTTP/1.0 client."""
        if self.our_state is not State.IDLE:
            raise LocalProtocolError("informational response after the final one started")
        request = self._request
        if request is None or request.http_version == "1.0":
            return b""  # RFC 9110 §15.2: MUST NOT send a 1xx to an HTTP/1.0 client
        return render_informational(status, headers)

    def send_switching_protocols(self, headers: Fields) -> tuple[bytes, bytes]:
        """Accept the request's Upgrade: the ``101 Switching Protocols`` head to send, and
        the bytes received after the request, which belong to the new protocol.

        Both sides move to SWITCHED_PROTOCOL: the engine reads and writes nothing more on
        this connection. ``headers`` must include the Upgrade field (RFC 9110 §15.2.2).
        Raises LocalProtocolError if the request did not ask to upgrade or is not
        complete yet, or if a response has started.
        """
        request = self._request
        if request is None or request.upgrade is None:
            raise LocalProtocolError("the request did not ask to upgrade")
        if self.our_state is not State.IDLE or self.their_state is not State.DONE:
            raise LocalProtocolError("cannot switch protocols now")
        # RFC 9110 §7.6.1: Connection: upgrade says the Upgrade field is hop-by-hop.
        head = b"".join(
            [
                status_line(101),
                *render_fields([*headers, (b"connection", b"Upgrade")]),
                b"\r\n",
            ]
        )
        self.their_state = advance(self.their_state, Step.SWITCH)
        self.our_state = advance(self.our_state, Step.SWITCH)
        self._no_reuse()
        trailing, self._buf = self._buf, b""
        return head, trailing

    def preview_response_head(self, status: object, headers: Fields) -> bytes:
        """The head ``send_response(status, headers)`` would send now, without sending it."""
        return self._shape(status, headers, None)[0]

    def send_response(
        self,
        status: object,
        headers: Fields,
        *,
        body: bytes | None = None,
        end: bool = False,
        length: int | None = None,
    ) -> bytes:
        """Render the response head, plus ``body`` (and the end, if ``end``).

        Giving the whole body with ``end=True`` lets the head carry its Content-Length;
        so does ``length``, the exact size of a body still to come (e.g. a file).
        Raises LocalProtocolError for an invalid status or header field, or a body that
        does not fit the application's Content-Length; nothing has changed then, so the
        caller can still send another response (a 500).
        """
        if self.our_state is not State.IDLE:
            raise LocalProtocolError("the response has already started")
        if end and not body and self._request is not None and self._request.method == b"HEAD":
            # RFC 9110 §8.6, §9.3.2: a HEAD response's Content-Length must be what GET
            # would send. An empty body given for HEAD says nothing about that length, so
            # it is not taken as the whole body (Content-Length: 0 would be false).
            return self.send_response(status, headers, length=length) + self.send_end()
        size = len(body) if body else 0
        out, framing, length, keep_alive = self._shape(status, headers, size if end else length)
        if framing == Framing.LENGTH:
            if size > length:
                raise LocalProtocolError("response body longer than its Content-Length")
            if end and size < length:
                raise LocalProtocolError("response body shorter than its Content-Length")
        self.our_state = HEAD_SENT  # from IDLE, checked above
        # The head's decision: never True where keep_alive was False (_shape starts from it).
        self._keep_alive = keep_alive
        self._framing = framing
        self._left = length
        if end and framing == Framing.LENGTH:
            # The whole body at once, its length in the head: one buffer, no framing.
            self._left = 0
            self.our_state = BODY_ENDED
            return out + body if body else out
        if body:
            out += self.send_data(body)
        if end:
            out += self.send_end()
        return out

    def _shape(self, status: object, headers: Fields, body_length: int | None) -> ResponseShape:
        request = self._request
        keep_alive = self._keep_alive and self.their_state is not State.ERROR
        if keep_alive and self.their_state is State.SEND_BODY:
            keep_alive = self._can_drain()
        return render_head(
            status,
            headers,
            self._settings,
            self._rendered_heads,
            http_version=request.http_version if request else "1.1",
            head_request=request is not None and request.method == b"HEAD",
            keep_alive=keep_alive,
            advertise_keep_alive=self._advertise_keep_alive,
            body_length=body_length,
        )

    def _can_drain(self) -> bool:
        """Whether an unread request body can be skipped to reuse the connection."""
        request = self._request
        if request is not None and request.expect_continue and not self._continue_sent:
            return False  # the client may be holding the body back: close instead
        reader = self._reader
        return not (isinstance(reader, ContentLengthReader) and reader.remaining > self.max_drain)

    def send_data(self, data: bytes) -> bytes:
        """Frame a piece of the response body. Raises LocalProtocolError past the length."""
        if self.our_state is not State.SEND_BODY:
            raise LocalProtocolError("no response body is being sent")
        framing = self._framing
        if framing == Framing.CHUNKED:
            return chunk(data)
        if framing == Framing.LENGTH:
            self._left -= len(data)
            if self._left < 0:
                raise LocalProtocolError("response body longer than its Content-Length")
            return data
        if framing == Framing.CLOSE:
            return data
        return b""  # Framing.NONE: HEAD, 204, 304 carry no body (RFC 9110 §6.4.1)

    def frame_external(self, count: int) -> tuple[bytes, bytes] | None:
        """The framing around ``count`` body bytes the caller writes itself (sendfile):
        the bytes to write before and after them, or None when this response carries no
        body (HEAD, 204, 304). Raises LocalProtocolError past the Content-Length."""
        if self.our_state is not State.SEND_BODY:
            raise LocalProtocolError("no response body is being sent")
        framing = self._framing
        if framing == Framing.NONE:
            return None
        if framing == Framing.CHUNKED:
            return (b"%x\r\n" % count, b"\r\n") if count else (b"", b"")
        if framing == Framing.LENGTH:
            if count > self._left:
                raise LocalProtocolError("response body longer than its Content-Length")
            self._left -= count
        return b"", b""

    def send_end(self, trailers: Fields | None = None) -> bytes:
        """End the response body; ``trailers`` are sent only with chunked framing."""
        if self.our_state is not State.SEND_BODY:
            raise LocalProtocolError("no response body is being sent")
        if self._framing == Framing.LENGTH and self._left:
            raise LocalProtocolError("response body shorter than its Content-Length")
        self.our_state = BODY_ENDED  # from SEND_BODY, checked above
        if self._framing == Framing.CHUNKED:
            return last_chunk(render_fields(trailers) if trailers else [])
        return b""

    # -- cycle ------------------------------------------------------------------------

    def start_next_cycle(self) -> None:
        """After a complete response on a kept-alive connection, go on to the next request.

        If the request body was not read to its end, it is discarded first (up to
        ``max_drain`` bytes) as ``next_event`` goes on.
        """
        if self.our_state is not State.DONE or not self._keep_alive:
            raise LocalProtocolError("cannot start a new cycle now")
        if self.their_state is State.SEND_BODY:
            self._drain_left = self.max_drain
            return
        if self.their_state is not State.DONE:
            raise LocalProtocolError("cannot start a new cycle now")
        self.their_state = self.our_state = NEXT_CYCLE  # both DONE, checked above
        self._request = None
        self._reader = None
