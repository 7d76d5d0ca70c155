"""Parse a response head (status line + field lines): the client role's counterpart of
``_request_head.py``.

Every rule cites RFC 9110 / RFC 9112; the choices where we are stricter (or more
lenient) than the llhttp and picohttpparser test corpora are listed in docs/client.md,
"Strictness". How the body after the head is framed is ``_framing.response_framing``.
"""

from __future__ import annotations

import re

from . import _abnf
from ._events import InformationalResponse, Response
from ._fields import bad, parse_field_block
from ._limits import Limits
from ._scan import HeadGrammar

__all__ = [
    "RESPONSE_HEAD",
    "check_partial_status_line",
    "check_status_line",
    "parse_response_head",
]

# RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]. We also
# take a status line without the second SP ("HTTP/1.1 204\r\n"), as picohttpparser and
# llhttp do: the reason phrase carries no meaning (RFC 9112 §4: a client SHOULD ignore it).
# reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ): the field-value characters.
_REASON = _abnf.FIELD_VALUE_CHARS
_status_line_re = re.compile(rb"HTTP/([0-9])\.([0-9]) ([1-5][0-9]{2})(?: (" + _REASON + rb"))?")

# Every prefix of a status line we would accept: an incomplete head is refused as soon as
# no continuation can make it valid, rather than when the read timeout fires.
_status_line_prefix_re = re.compile(
    _abnf.prefixes(
        *(re.escape(bytes([c])) for c in b"HTTP/"),
        *[rb"[0-9]", rb"\.", rb"[0-9]", b" "],
        rb"[1-5]",
        rb"[0-9]",
        rb"[0-9]",
        b" " + _REASON,
    )
)


def _parse_status_line(line: bytes) -> tuple[str, int, bytes]:
    """(http_version, status, reason) from a status line without its CRLF."""
    match = _status_line_re.fullmatch(line)
    if match is None:
        raise bad("malformed status line")
    major, minor, code, reason = match.groups(b"")
    if major != b"1":
        # RFC 9110 §2.5: another major version is another protocol (HTTP/0.9, HTTP/2.0).
        raise bad("unsupported HTTP version in status line")
    # RFC 9110 §2.5: a higher 1.x minor version is handled as 1.1.
    return "1.0" if minor == b"0" else "1.1", int(code), reason


def parse_response_head(head: bytes, limits: Limits) -> Response | InformationalResponse:
    """Parse ``status-line CRLF *(field-line CRLF)`` (the final empty line excluded).

    ``head`` must contain the status line's CRLF. Raises RemoteProtocolError.
    """
    line_end = head.find(b"\r\n")
    version, status, reason = _parse_status_line(head[:line_end])
    headers = parse_field_block(head, limits, line_end + 2)
    if status < 200:
        return InformationalResponse(status, reason, version, headers)
    return Response(status, reason, version, headers)


def check_status_line(line: bytes, limits: Limits) -> None:
    """Raise RemoteProtocolError unless ``line`` (without its CRLF) is a status line we
    accept: the first-line check of an incomplete response head."""
    _parse_status_line(line)


def check_partial_status_line(line: bytes, limits: Limits) -> None:
    """Raise RemoteProtocolError if no continuation of ``line`` can be a status line."""
    if _status_line_prefix_re.fullmatch(line) is None:
        raise bad("malformed status line")


RESPONSE_HEAD = HeadGrammar(
    check_status_line,
    check_partial_status_line,
    line_breaks_first=True,
    bare_message="bare CR or LF in response head",
    fold_message="obsolete line folding in response head",
    ctl_message="control character in response header field",
)
"""How ``HeadScan`` checks an incomplete response head."""
