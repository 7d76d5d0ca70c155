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

import functools
import re

from .._errors import LocalProtocolError, RemoteProtocolError
from . import _abnf
from ._body import (
    ChunkedReader,
    CloseDelimitedReader,
    ContentLengthReader,
    Reader,
    chunk,
    last_chunk,
)
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
from ._limits import Limits
from ._receiver import Receiver
from ._render import Framing, render_fields, validate_fields
from ._response_head import (
    CHUNKED,
    CLOSE_DELIMITED,
    ResponseHeadScan,
    parse_response_head,
    response_framing,
)
from ._state import State, Step, advance

__all__ = ["ClientConnection", "render_request_head"]

# RFC 9110 §8.6: a user agent SHOULD send Content-Length when the method defines a
# meaning for content, even 0, and SHOULD NOT when it sends none with another method.
_CONTENT_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})

# RFC 9112 §3.2: origin-form, absolute-form, authority-form or "*": visible ASCII only.
_target_re = re.compile(rb"[\x21-\x7e]+")

RequestShape = tuple[bytes, int, int, bool]
"""(head bytes, Framing, Content-Length for Framing.LENGTH, keep-alive)."""


def render_request_head(
    method: bytes, target: bytes, headers: Headers, body_length: int | None
) -> RequestShape:
    """Validate and render a request head (RFC 9112 §3), choosing the body framing.

    ``body_length`` is the whole body's length when known before the head is sent, else
    None (chunked, unless ``headers`` carry a Content-Length). Raises LocalProtocolError.
    """
    try:
        # A client sends the same few heads again and again (the same URL, the same
        # fields): validating and rendering one costs more than looking it up.
        return _render_cached(method, target, tuple(headers), body_length)
    except TypeError:  # something unhashable among the fields: _render says what
        return _render(method, target, headers, body_length)


@functools.lru_cache(maxsize=256)
def _render_cached(
    method: bytes, target: bytes, headers: tuple[tuple[bytes, bytes], ...], body_length: int | None
) -> RequestShape:
    return _render(method, target, list(headers), body_length)


def _render(
    method: bytes, target: bytes, headers: Headers, body_length: int | None
) -> RequestShape:
    if _abnf.token_re.fullmatch(method) is None:
        raise LocalProtocolError(f"the method is not a token: {method!r}")
    if _target_re.fullmatch(target) is None:
        raise LocalProtocolError(f"invalid request target: {target!r}")
    validate_fields(headers)
    hosts = 0
    length: int | None = None
    chunked = False
    keep_alive = True
    for name, value in headers:
        lname = name.lower()
        if lname == b"host":
            hosts += 1
        elif lname == b"content-length":
            if length is not None or _abnf.digits_re.fullmatch(value) is None:
                raise LocalProtocolError("invalid or repeated Content-Length")
            length = int(value)
        elif lname == b"transfer-encoding":
            if value.lower() != b"chunked" or chunked:
                raise LocalProtocolError("only Transfer-Encoding: chunked can be sent")
            chunked = True
        elif lname == b"connection":
            keep_alive = keep_alive and b"close" not in value.lower()
    if hosts != 1:
        # RFC 9112 §3.2: a client MUST send exactly one Host field in an HTTP/1.1 request.
        raise LocalProtocolError("a request needs exactly one Host header field")
    if length is not None and chunked:
        # RFC 9112 §6.2: a sender MUST NOT send Content-Length with Transfer-Encoding.
        raise LocalProtocolError("both Content-Length and Transfer-Encoding")
    lines = [method, b" ", target, b" HTTP/1.1\r\n"]
    lines += [b"%s: %s\r\n" % pair for pair in headers]
    if length is not None:
        framing = Framing.LENGTH
    elif chunked:
        framing = Framing.CHUNKED
    elif body_length is None:
        lines.append(b"Transfer-Encoding: chunked\r\n")
        framing = Framing.CHUNKED
    else:
        length = body_length
        if body_length or method in _CONTENT_METHODS:
            lines.append(b"Content-Length: %d\r\n" % body_length)
        framing = Framing.LENGTH
    lines.append(b"\r\n")
    return b"".join(lines), framing, length or 0, keep_alive


class ClientConnection(Receiver):
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
        "_reader",
        "_request_keep_alive",
        "_scan",
        "our_state",
        "response",
        "response_head_bytes",
    )

    def __init__(self, limits: Limits | None = None) -> None:
        self._limits = limits or Limits(max_body_size=None)
        self._buf = b""
        self._eof = False
        self._scan = ResponseHeadScan()
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
        self.our_state = State.IDLE
        self.their_state = State.IDLE
        self.keep_alive = True
        """False once either side has said the connection ends after this exchange."""

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
        self.our_state = advance(self.our_state, Step.HEAD)
        self._method = method
        self._request_keep_alive = keep_alive
        self.keep_alive = keep_alive
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
        self.our_state = advance(self.our_state, Step.END)
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
            self.their_state = advance(self.their_state, Step.END)
            if not self.keep_alive:
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
        head = parse_response_head(buf[pos : end + 2], self._limits)
        self._buf = buf[end + 4 :]
        if type(head) is InformationalResponse:
            if head.status == 101:
                # RFC 9110 §15.2.2: only an answer to Upgrade, which we never send.
                raise RemoteProtocolError("101 Switching Protocols without an Upgrade request")
            self._informational = True
            return head
        assert type(head) is Response
        self.response_head_bytes = buf[pos : end + 4]
        self._start_response(head)
        return head

    def _incomplete_head(self, buf: bytes, pos: int) -> ConnectionClosed | Sentinel:
        self._scan.scan(buf, pos)
        pending = len(buf) - pos
        if pending >= self._limits.max_head_size:
            raise RemoteProtocolError("response header section too large", status=431)
        if not self._eof:
            return NEED_DATA
        if not buf and not self._informational:
            return self._closed()
        raise RemoteProtocolError("connection closed inside the response head")

    def _closed(self) -> ConnectionClosed:
        self.keep_alive = False
        self.their_state = advance(self.their_state, Step.CLOSE)
        return ConnectionClosed()

    def _start_response(self, response: Response) -> None:
        length, keep_alive = response_framing(
            response, self._method, self._request_keep_alive, self._limits
        )
        self.response = response
        self.keep_alive = keep_alive
        if length == CHUNKED:
            self._reader = ChunkedReader(self._limits)
        elif length == CLOSE_DELIMITED:
            self._reader = CloseDelimitedReader()
        else:
            self._reader = ContentLengthReader(length)
        self.their_state = advance(self.their_state, Step.HEAD)

    # -- cycle ------------------------------------------------------------------------

    def start_next_cycle(self) -> None:
        """After a complete exchange on a kept-alive connection, get ready for the next
        request. Raises LocalProtocolError if either message is unfinished."""
        if (
            self.our_state is not State.DONE
            or self.their_state is not State.DONE
            or not self.keep_alive
        ):
            raise LocalProtocolError("cannot start a new cycle now")
        self.our_state = advance(self.our_state, Step.NEXT_CYCLE)
        self.their_state = advance(self.their_state, Step.NEXT_CYCLE)
        self.response = None
        self.response_head_bytes = b""
        self._reader = None
        self._informational = False
