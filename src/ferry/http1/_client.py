"""The client role of the HTTP/1.1 engine: calls in, bytes out; bytes in, events out.

``ClientConnection`` does no I/O. Its contract, in call order::

    send_request(method, target, headers, body=?, end=?) -> bytes   the request head
    send_data(bytes)* -> bytes             body pieces, framed
    send_end(trailers) -> bytes            the end of the request body
    receive_data(bytes)* / receive_eof()   what the server sent
    next_event() -> InformationalResponse*, Response, Data*, EndOfMessage, then PAUSED
                    (or NEED_DATA; or ConnectionClosed: see ``next_event``)
    start_next_cycle()                     both sides done and keep_alive: next request

The response may arrive before the request body has been sent (an early 413, say); the
caller then stops sending and, unless both messages completed, closes the connection.
A RemoteProtocolError from ``next_event`` leaves the connection in ERROR: close it.
"""

from __future__ import annotations

from .._errors import LocalProtocolError, RemoteProtocolError
from ._body import (
    ChunkedReader,
    CloseDelimitedReader,
    ContentLengthReader,
    Reader,
    chunk,
    last_chunk,
)
from ._caches import ParsedResponse, parsed_response_cache
from ._connection import Connection
from ._events import (
    NEED_DATA,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Headers,
    InformationalResponse,
    Response,
    Sentinel,
)
from ._framing import CHUNKED, CLOSE_DELIMITED, Framing, response_framing
from ._limits import Limits
from ._render import render_fields, render_request_head
from ._response_head import RESPONSE_HEAD, parse_response_head
from ._scan import HeadScan
from ._state import BODY_ENDED, HEAD_SENT, NEXT_CYCLE, State, Step, advance

__all__ = ["ClientConnection"]

_DEFAULT_LIMITS = Limits(max_body_size=None)
"""A connection's ``limits`` when none are given: one object, so that every such
connection shares its parsed-response cache (``_caches.py``)."""


class ClientConnection(Connection):
    """One HTTP/1.1 connection, seen from the client. See the module docstring.

    ``limits`` bound what the server sends; by default a response body has no size limit
    (a download may be large) and the head is bounded as a request head is.

    ``next_event`` returns ConnectionClosed when the server closed the connection before
    sending any byte of a response (RFC 9112 §9.3.1: a request on a reused connection
    may then be retried if it is idempotent), or while no request is pending.
    """

    __slots__ = (
        "_framing",
        "_informational",
        "_left",
        "_limits",
        "_method",
        "_parsed_heads",
        "_reader",
        "_request_keep_alive",
        "_scan",
        "response",
        "response_head_bytes",
    )

    def __init__(self, limits: Limits | None = None) -> None:
        super().__init__()
        self._limits = limits or _DEFAULT_LIMITS
        self._parsed_heads = parsed_response_cache(self._limits)
        self._scan = HeadScan(RESPONSE_HEAD)
        self._reader: Reader | None = None
        self._method = b""
        self._framing = Framing.NONE
        self._left = 0  # request body bytes still owed under Framing.LENGTH
        self._request_keep_alive = True
        self._informational = False  # a 1xx of this cycle arrived
        self.response: Response | None = None
        """The final response head of the current cycle, once it has arrived."""
        self.response_head_bytes = b""
        """That head's bytes as received, its final CRLF included (for ``-v`` output)."""

    # -- output -----------------------------------------------------------------------

    def send_request(
        self,
        method: bytes,
        target: bytes,
        headers: Headers,
        *,
        body: bytes | None = None,
        end: bool = False,
    ) -> bytes:
        """Render the request head, plus ``body`` (and the end of the body, if ``end``).

        With ``end=True`` the head carries the body's Content-Length; otherwise the body
        is chunked unless ``headers`` give a Content-Length. ``headers`` must hold the
        Host field. Raises LocalProtocolError (nothing has changed then).
        """
        if self.our_state is not State.IDLE or self.their_state is not State.IDLE:
            raise LocalProtocolError("a request is already in progress")
        size = len(body) if body else 0
        head, framing, length, keep_alive = render_request_head(
            method, target, headers, size if end else None
        )
        if framing == Framing.LENGTH and (size > length or (end and size < length)):
            raise LocalProtocolError("request body does not match its Content-Length")
        self.our_state = HEAD_SENT  # from IDLE, checked above
        self._method = method
        self._request_keep_alive = keep_alive
        if not keep_alive:  # RFC 9112 §9.6: our request says "close"
            self._no_reuse()
        self._framing = framing
        self._left = length
        out = head
        if body:
            out += self.send_data(body)
        if end:
            out += self.send_end()
        return out

    def send_data(self, data: bytes) -> bytes:
        """Frame a piece of the request body. Raises LocalProtocolError past the length."""
        if self.our_state is not State.SEND_BODY:
            raise LocalProtocolError("no request body is being sent")
        if self._framing == Framing.CHUNKED:
            return chunk(data)
        self._left -= len(data)
        if self._left < 0:
            raise LocalProtocolError("request body longer than its Content-Length")
        return data

    def send_end(self, trailers: Headers | None = None) -> bytes:
        """End the request body; ``trailers`` are sent only with chunked framing."""
        if self.our_state is not State.SEND_BODY:
            raise LocalProtocolError("no request body is being sent")
        if self._framing == Framing.LENGTH and self._left:
            raise LocalProtocolError("request body shorter than its Content-Length")
        self.our_state = BODY_ENDED  # from SEND_BODY, checked above
        if self._framing == Framing.CHUNKED:
            return last_chunk(render_fields(trailers) if trailers else [])
        return b""

    # -- input ------------------------------------------------------------------------

    @property
    def trailing_data(self) -> bytes:
        """Bytes received and not turned into events (after a CONNECT 2xx: the tunnel's)."""
        return self._buf

    def _next_body_event(self) -> Data | EndOfMessage | Sentinel:
        assert self._reader is not None
        event, pos = self._reader.read(self._buf, 0, self._eof)
        if pos:
            self._buf = self._buf[pos:]
        if type(event) is EndOfMessage:
            self.their_state = BODY_ENDED  # from SEND_BODY: next_event checked it
            if not self._keep_alive:
                self.their_state = advance(self.their_state, Step.NO_REUSE)
        return event

    def _next_head(self) -> Response | InformationalResponse | ConnectionClosed | Sentinel:
        buf = self._buf
        if self.our_state is State.IDLE:
            if buf:
                raise RemoteProtocolError("the server sent bytes before any request")
            return self._closed() if self._eof else NEED_DATA
        if not buf and not self._eof:
            return NEED_DATA  # the usual case just after a request: nothing to check yet
        pos = 0
        while buf.startswith(b"\r\n", pos):
            # Tolerate a stray CRLF after the previous body (as llhttp does), boundedly.
            pos += 2
            if pos > 2 * self._limits.max_leading_empty_lines:
                raise RemoteProtocolError("too many empty lines before the status line")
        checked = self._scan.checked
        end = buf.find(b"\r\n\r\n", checked - 3 if checked > pos + 3 else pos)
        if end < 0:
            return self._incomplete_head(buf, pos)
        self._scan.reset()
        if end + 4 - pos > self._limits.max_head_size:
            raise RemoteProtocolError("response header section too large", status=431)
        head, length, keep_alive = self._parse(buf[pos : end + 2])
        self._buf = buf[end + 4 :]
        if type(head) is InformationalResponse:
            if head.status == 101:
                # RFC 9110 §15.2.2: only an answer to Upgrade, which we never send.
                raise RemoteProtocolError("101 Switching Protocols without an Upgrade request")
            self._informational = True
            return head
        assert type(head) is Response
        self.response_head_bytes = buf[pos : end + 4]
        self._start_response(head, length, keep_alive)
        return head

    def _parse(self, head: bytes) -> ParsedResponse:
        """A final response head (lines without the final empty one), with what it
        decides for this request of its body's length and the connection's reuse (see
        ``response_framing``); or a 1xx head (then 0, False). A final head seen before
        under these limits, to a request of the same method and persistence, is not
        parsed again (``_caches.ParsedResponseCache``). Raises RemoteProtocolError."""
        key = (head, self._method, self._request_keep_alive)
        found = self._parsed_heads.get(key)
        if found is not None:
            return found
        parsed = parse_response_head(head, self._limits)
        if type(parsed) is InformationalResponse:
            return parsed, 0, False
        assert type(parsed) is Response
        length, keep_alive = response_framing(
            parsed, self._method, self._request_keep_alive, self._limits
        )
        found = (parsed, length, keep_alive)
        self._parsed_heads.put(key, found)
        return found

    def _incomplete_head(self, buf: bytes, pos: int) -> ConnectionClosed | Sentinel:
        self._scan.scan(buf, pos, self._limits)
        pending = len(buf) - pos
        if pending >= self._limits.max_head_size:
            raise RemoteProtocolError("response header section too large", status=431)
        if not self._eof:
            return NEED_DATA
        if not buf and not self._informational:
            return self._closed()
        raise RemoteProtocolError("connection closed inside the response head")

    def _closed(self) -> ConnectionClosed:
        self._no_reuse()
        self.their_state = advance(self.their_state, Step.CLOSE)
        return ConnectionClosed()

    def _start_response(self, response: Response, length: int, keep_alive: bool) -> None:
        self.response = response
        if not keep_alive:  # RFC 9112 §9.3: this response ends the connection
            self._no_reuse()
        if length == CHUNKED:
            self._reader = ChunkedReader(self._limits)
        elif length == CLOSE_DELIMITED:
            self._reader = CloseDelimitedReader()
        else:
            self._reader = ContentLengthReader(length)
        self.their_state = HEAD_SENT  # from IDLE: _next_head is only called then

    # -- cycle ------------------------------------------------------------------------

    def start_next_cycle(self) -> None:
        """After a complete exchange on a kept-alive connection, get ready for the next
        request. Raises LocalProtocolError if either message is unfinished."""
        if (
            self.our_state is not State.DONE
            or self.their_state is not State.DONE
            or not self._keep_alive
        ):
            raise LocalProtocolError("cannot start a new cycle now")
        self.their_state = self.our_state = NEXT_CYCLE  # both DONE, checked above
        self.response = None
        self.response_head_bytes = b""
        self._reader = None
        self._informational = False
