"""Field lines (RFC 9112 §5), as both roles receive them: in a head or a trailer section.

Also the one constructor of the engine's ``RemoteProtocolError``s, ``bad``.
"""

from __future__ import annotations

from .._errors import RemoteProtocolError
from . import _abnf
from ._events import Headers
from ._limits import Limits

__all__ = ["bad", "diagnose_field_block", "parse_field_block"]


def bad(message: str, status: int = 400) -> RemoteProtocolError:
    """The error for bytes the peer should not have sent, with the status it maps to."""
    return RemoteProtocolError(message, status=status)


def parse_field_block(block: bytes, limits: Limits, pos: int = 0) -> Headers:
    """Parse ``field-line CRLF`` repeated (RFC 9112 §5) from ``block[pos:]``.

    Names are lower-cased (they compare case-insensitively, RFC 9110 §5.1) and the OWS
    around values is left out (RFC 9112 §5.1). Raises RemoteProtocolError (400, or 431
    over ``max_header_count``).
    """
    if _abnf.field_block_re.fullmatch(block, pos) is None:
        raise diagnose_field_block(block[pos:])
    # The block is valid: each line is a token (which has no ":"), a colon and a value
    # without CR or LF; the value's leading and trailing OWS are not part of it.
    headers = []
    for line in block[pos:].split(b"\r\n")[:-1]:
        name, _, value = line.partition(b":")
        headers.append((name.lower(), value.strip(b" \t")))
    if len(headers) > limits.max_header_count:
        raise bad("too many header fields", 431)
    return headers


def diagnose_field_block(block: bytes) -> RemoteProtocolError:
    """Name the first bad line of a field block known to be invalid, ending with CRLF.

    Only the error path comes here: it may be slow; the parse of a good block is not.
    """
    lines = block.split(b"\r\n")[:-1]
    line = next(line for line in lines if _abnf.field_line_re.fullmatch(line + b"\r\n") is None)
    if line[:1] in (b" ", b"\t"):
        # RFC 9112 §5.2: obs-fold; we reject it rather than unfold (smuggling vector).
        return bad("obsolete line folding in header section")
    if b"\r" in line or b"\n" in line:
        # RFC 9112 §2.2: a bare CR MUST be rejected (or replaced); bare LF: our choice.
        return bad("bare CR or LF in header section")
    name, colon, _ = line.partition(b":")
    if not colon:
        return bad("header line without a colon")
    if name.rstrip(b" \t") != name:
        # RFC 9112 §5.1: no whitespace between field name and colon; MUST reject.
        return bad("whitespace between header field name and colon")
    if _abnf.token_re.fullmatch(name) is None:
        return bad("header field name is not a token")
    return bad("control character in header field value")
