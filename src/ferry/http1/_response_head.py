"""Parse a response head (status line + field lines) and decide its body framing.

The client role's counterpart of ``_head.py``. Every rule cites RFC 9110 / RFC 9112; the
choices where we are stricter (or more lenient) than the llhttp and picohttpparser test
corpora are listed in docs/client.md, "Strictness".
"""

from __future__ import annotations

import re

from .._errors import RemoteProtocolError
from . import _abnf
from ._events import Headers, InformationalResponse, Response
from ._limits import Limits
from ._request_head import _diagnose_field_block, parse_field_block
from ._scan import bare_line_break

__all__ = [
    "CHUNKED",
    "CLOSE_DELIMITED",
    "ResponseHeadScan",
    "parse_response_head",
    "response_framing",
]

CHUNKED = -1
"""``response_framing`` body length: chunked transfer coding."""
CLOSE_DELIMITED = -2
"""``response_framing`` body length: the body ends when the connection closes."""

# RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]. We also
# take a status line without the second SP ("HTTP/1.1 204\r\n"), as picohttpparser and
# llhttp do: the reason phrase carries no meaning (RFC 9112 §4: a client SHOULD ignore it).
_REASON = rb"[\t\x20-\x7e\x80-\xff]*"
_status_line_re = re.compile(rb"HTTP/([0-9])\.([0-9]) ([1-5][0-9]{2})(?: (" + _REASON + rb"))?")


def _prefixes(*parts: bytes) -> bytes:
    """A pattern for any prefix of ``parts`` concatenated (the empty one included)."""
    pattern = b""
    for part in reversed(parts):
        pattern = b"(?:" + part + pattern + b")?"
    return pattern


# Every prefix of a status line we would accept: an incomplete head is refused as soon as
# no continuation can make it valid, rather than when the read timeout fires.
_status_line_prefix_re = re.compile(
    _prefixes(
        *(re.escape(bytes([c])) for c in b"HTTP/"),
        *[rb"[0-9]", rb"\.", rb"[0-9]", b" "],
        rb"[1-5]",
        rb"[0-9]",
        rb"[0-9]",
        b" " + _REASON,
    )
)
# What no field line may hold: CTLs but HTAB (RFC 9110 §5.5), bare CR or LF included.
_field_ctl_re = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_NO_LIMITS = Limits()


def _bad(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message)


def parse_response_head(head: bytes, limits: Limits) -> Response | InformationalResponse:
    """Parse ``status-line CRLF *(field-line CRLF)`` (the final empty line excluded).

    ``head`` must contain the status line's CRLF. Raises RemoteProtocolError.
    """
    line_end = head.find(b"\r\n")
    match = _status_line_re.fullmatch(head, 0, line_end)
    if match is None:
        raise _bad("malformed status line")
    major, minor, code, reason = match.groups(b"")
    if major != b"1":
        # RFC 9110 §2.5: another major version is another protocol (HTTP/0.9, HTTP/2.0).
        raise _bad("unsupported HTTP version in status line")
    headers = parse_field_block(head, limits, line_end + 2)
    # RFC 9110 §2.5: a higher 1.x minor version is handled as 1.1.
    version = "1.0" if minor == b"0" else "1.1"
    status = int(code)
    if status < 200:
        return InformationalResponse(status, reason, version, headers)
    return Response(status, reason, version, headers)


def response_framing(
    response: Response, method: bytes, request_keep_alive: bool, limits: Limits
) -> tuple[int, bool]:
    """(body length, 0 for none, CHUNKED or CLOSE_DELIMITED; whether to reuse the
    connection after this response), by RFC 9112 §6.3 and §9.3. Raises RemoteProtocolError.
    """
    lengths, codings, connection = _framing_fields(response.headers)
    keep_alive = request_keep_alive and _persists(response.http_version, connection)
    status = response.status
    # RFC 9112 §6.3 (1): a response to HEAD, and any 1xx, 204 or 304 response, ends with
    # its head, whatever its fields say.
    if method == b"HEAD" or status == 204 or status == 304:
        return 0, keep_alive
    if method == b"CONNECT" and status < 300:
        # RFC 9112 §6.3 (2): a 2xx to CONNECT turns the connection into a tunnel; the
        # bytes after the head are not HTTP any more, so it cannot be reused for HTTP.
        return 0, False
    if codings:
        return _transfer_coding_framing(codings, lengths, response.http_version), keep_alive
    if lengths:
        return _content_length(lengths, limits), keep_alive
    # RFC 9112 §6.3 (8): otherwise the body ends when the server closes the connection.
    return CLOSE_DELIMITED, False


def _framing_fields(headers: Headers) -> tuple[list[bytes], list[bytes], bytes | None]:
    lengths: list[bytes] = []
    codings: list[bytes] = []
    connections: list[bytes] = []
    for name, value in headers:
        if name == b"content-length":
            lengths.append(value)
        elif name == b"transfer-encoding":
            codings.append(value)
        elif name == b"connection":
            connections.append(value)
    return lengths, codings, b",".join(connections) if connections else None


def _persists(version: str, connection: bytes | None) -> bool:
    # RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
    if connection is None:
        return version == "1.1"
    if connection == b"keep-alive":  # the usual value, decided without splitting it
        return True
    tokens = {t.strip(b" \t").lower() for t in connection.split(b",")}
    return b"close" not in tokens and (version == "1.1" or b"keep-alive" in tokens)


def _transfer_coding_framing(codings: list[bytes], lengths: list[bytes], version: str) -> int:
    if lengths:
        # RFC 9112 §6.3 (3): Transfer-Encoding overrides Content-Length, and such a message
        # "ought to be handled as an error" (response splitting): we refuse it.
        raise _bad("both Transfer-Encoding and Content-Length in a response")
    if version == "1.0":
        # RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
        raise _bad("Transfer-Encoding in an HTTP/1.0 response")
    listed = [c.strip(b" \t").lower() for c in b",".join(codings).split(b",")]
    if listed != [b"chunked"]:
        # RFC 9112 §6.3 (4) would read a body whose final coding is not chunked until the
        # close, but we decode no other transfer coding (and "identity" is gone from the
        # registry, RFC 9112 §7): such a body cannot be read, so we refuse the response.
        raise _bad("unsupported Transfer-Encoding in a response")
    return CHUNKED


def _content_length(values: list[bytes], limits: Limits) -> int:
    # RFC 9110 §8.6: Content-Length = 1*DIGIT. RFC 9112 §6.3 (5): an invalid value in a
    # response is an unrecoverable error; we count a list (even "5, 5") as invalid.
    # bytes.isdigit() is true for one or more ASCII digits only: 1*DIGIT.
    if len(values) != 1 or not values[0].isdigit():
        raise _bad("invalid Content-Length in a response")
    if len(values[0]) > 18:
        raise _bad("Content-Length too large")
    length = int(values[0])
    if limits.max_body_size is not None and length > limits.max_body_size:
        raise _bad("response body larger than the configured maximum")
    return length


class ResponseHeadScan:
    """Checks an incomplete response head, so that a broken one fails at once.

    Each byte is examined about twice however the head is split: the complete lines are
    checked once, the partial last line on each call.
    """

    __slots__ = ("checked", "line_start")

    def __init__(self) -> None:
        self.checked = 0  # bytes of the buffer already checked
        self.line_start = -1  # start of the partial field line; -1: status line partial

    def reset(self) -> None:
        self.checked = 0
        self.line_start = -1

    def scan(self, buf: bytes, pos: int) -> None:
        """Check ``buf[pos:]``, a head whose empty line has not arrived. Raises
        RemoteProtocolError if no continuation can make it valid."""
        end = len(buf) - 1 if buf.endswith(b"\r") else len(buf)  # a CR may start a CRLF
        start = max(self.checked, pos)
        if bare_line_break(buf, start, end):
            # RFC 9112 §2.2: a bare CR MUST be rejected; a bare LF MAY be taken as a line
            # end: we do not (a response-splitting vector, and llhttp's strict choice).
            raise _bad("bare CR or LF in response head")
        if self.line_start < 0:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                if _status_line_prefix_re.fullmatch(buf, pos, end) is None:
                    raise _bad("malformed status line")
                self.checked = end
                return
            parse_response_head(buf[pos : line_end + 2], _NO_LIMITS)  # the status line alone
            self.line_start = line_end + 2
        self._scan_fields(buf, end)
        self.checked = end

    def _scan_fields(self, buf: bytes, end: int) -> None:
        last = buf.rfind(b"\r\n", self.line_start, end)
        if last >= 0:  # one or more field lines were completed
            block = buf[self.line_start : last + 2]
            if _abnf.field_block_re.fullmatch(block) is None:
                raise _diagnose_field_block(block)
            self.line_start = last + 2
        start = self.line_start
        if buf[start : start + 1] in (b" ", b"\t"):
            # RFC 9112 §5.2: obs-fold; a client MUST reject or unfold - we reject.
            raise _bad("obsolete line folding in response head")
        if _field_ctl_re.search(buf, start, end) is not None:
            raise _bad("control character in response header field")
