"""Body framing (RFC 9112 §6, §7): readers that remove it, writers that add it.

A reader is fed the connection's buffer and a position, and returns the next event (or
NEED_DATA) with the new position. It never copies more than the bytes it hands out.
"""

from __future__ import annotations

from typing import Final

from .._errors import RemoteProtocolError
from . import _abnf
from ._events import NEED_DATA, Data, EndOfMessage, Headers, Sentinel
from ._fields import parse_field_block
from ._limits import Limits
from ._scan import bare_line_break

__all__ = [
    "ChunkedReader",
    "CloseDelimitedReader",
    "ContentLengthReader",
    "Reader",
    "chunk",
    "last_chunk",
]

ReadResult = tuple[Data | EndOfMessage | Sentinel, int]

_END = EndOfMessage()  # shared: carries no trailers and is never mutated


def end_of_message(trailers: Headers | None = None) -> EndOfMessage:
    return EndOfMessage(trailers) if trailers else _END


class ContentLengthReader:
    """RFC 9112 §6.2: exactly ``length`` bytes of body."""

    __slots__ = ("remaining",)

    def __init__(self, length: int) -> None:
        self.remaining = length

    def read(self, buf: bytes, pos: int, eof: bool) -> ReadResult:
        if self.remaining == 0:
            return _END, pos
        available = len(buf) - pos
        if available == 0:
            if eof:
                # RFC 9112 §8: a message with fewer bytes than Content-Length is incomplete.
                raise RemoteProtocolError("connection closed before the body was complete")
            return NEED_DATA, pos
        take = min(available, self.remaining)
        self.remaining -= take
        return Data(buf[pos : pos + take]), pos + take


class CloseDelimitedReader:
    """RFC 9112 §6.3 (8): a response body that ends when the connection closes."""

    __slots__ = ()

    def read(self, buf: bytes, pos: int, eof: bool) -> ReadResult:
        if pos < len(buf):
            return Data(buf[pos:]), len(buf)
        return (_END if eof else NEED_DATA), pos


class ChunkedReader:
    """RFC 9112 §7.1: chunked transfer coding, with bounded sizes, extensions, trailers."""

    __slots__ = ("_chunk_left", "_limits", "_phase", "_total")

    _SIZE: Final = 0
    _DATA: Final = 1
    _DATA_CRLF: Final = 2
    _TRAILERS: Final = 3

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._phase = self._SIZE
        self._chunk_left = 0
        self._total = 0

    def read(self, buf: bytes, pos: int, eof: bool) -> ReadResult:
        while True:
            if self._phase == self._DATA:
                return self._read_data(buf, pos, eof)
            if self._phase == self._SIZE:
                limit = pos + self._limits.max_chunk_line + 2
                end = buf.find(b"\r\n", pos, limit)
                if end < 0:
                    if bare_line_break(buf, pos, min(limit, len(buf))):
                        # RFC 9112 §7.1: the size line ends with CRLF; a bare LF (or CR)
                        # is refused at once, as in the head (docs/rfc-choices.md).
                        raise RemoteProtocolError("invalid chunk size line")
                    return self._need(buf, pos, eof, self._limits.max_chunk_line)
                self._start_chunk(buf[pos:end])
                pos = end + 2
            elif self._phase == self._DATA_CRLF:
                crlf = buf[pos : pos + 2]
                if crlf != b"\r\n":
                    if crlf == b"\r"[: len(crlf)]:  # b"" or b"\r": the rest may come
                        return self._need(buf, pos, eof, 2)
                    raise RemoteProtocolError("chunk data not followed by CRLF")
                pos += 2
                self._phase = self._SIZE
            else:
                return self._read_trailers(buf, pos, eof)

    def _need(self, buf: bytes, pos: int, eof: bool, limit: int) -> ReadResult:
        if eof:
            raise RemoteProtocolError("connection closed inside a chunked body")
        if len(buf) - pos > limit + 1:
            raise RemoteProtocolError("chunk size line too long")
        return NEED_DATA, pos

    def _start_chunk(self, line: bytes) -> None:
        match = _abnf.chunk_size_line_re.fullmatch(line)
        if match is None:
            # Covers bare LF, whitespace after the size and malformed extensions.
            raise RemoteProtocolError("invalid chunk size line")
        digits = match.group(1)
        if len(digits) > 16:
            raise RemoteProtocolError("chunk size too large")
        size = int(digits, 16)
        self._total += size
        limit = self._limits.max_body_size
        if limit is not None and self._total > limit:
            raise RemoteProtocolError("request body larger than the configured maximum", status=413)
        if size == 0:
            self._phase = self._TRAILERS
        else:
            self._chunk_left = size
            self._phase = self._DATA

    def _read_data(self, buf: bytes, pos: int, eof: bool) -> ReadResult:
        available = len(buf) - pos
        if available == 0:
            return self._need(buf, pos, eof, 0)
        take = min(available, self._chunk_left)
        self._chunk_left -= take
        if self._chunk_left == 0:
            self._phase = self._DATA_CRLF
        return Data(buf[pos : pos + take]), pos + take

    def _read_trailers(self, buf: bytes, pos: int, eof: bool) -> ReadResult:
        # RFC 9112 §7.1.2: trailer-section = *( field-line CRLF ), then the final CRLF.
        if buf.startswith(b"\r\n", pos):
            return _END, pos + 2
        end = buf.find(b"\r\n\r\n", pos, pos + self._limits.max_trailer_size + 4)
        if end < 0:
            if len(buf) - pos > self._limits.max_trailer_size:
                raise RemoteProtocolError("trailer section too large", status=431)
            if bare_line_break(buf, pos, len(buf)):
                raise RemoteProtocolError("bare CR or LF in trailer section")
            if eof:
                raise RemoteProtocolError("connection closed inside the trailer section")
            return NEED_DATA, pos
        trailers = parse_field_block(buf[pos : end + 2], self._limits)
        for name, _ in trailers:
            if name in _FORBIDDEN_TRAILERS:
                # RFC 9110 §6.5.1: framing, routing and authentication fields MUST NOT be
                # taken from trailers; we refuse the message instead of silently dropping.
                raise RemoteProtocolError("forbidden field in trailer section")
        return end_of_message(trailers), end + 4


Reader = ContentLengthReader | ChunkedReader | CloseDelimitedReader

_FORBIDDEN_TRAILERS = frozenset(
    {
        b"transfer-encoding",
        b"content-length",
        b"host",
        b"connection",
        b"keep-alive",
        b"upgrade",
        b"te",
        b"trailer",
        b"expect",
        b"authorization",
        b"proxy-authorization",
        b"cookie",
        b"content-encoding",
        b"content-type",
        b"content-range",
    }
)


def chunk(data: bytes) -> bytes:
    """One chunk of the chunked coding (RFC 9112 §7.1); empty data gives b""."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


def last_chunk(trailer_lines: list[bytes]) -> bytes:
    """The last chunk, rendered trailer field lines and the final CRLF (RFC 9112 §7.1)."""
    return b"0\r\n" + b"".join(trailer_lines) + b"\r\n"
