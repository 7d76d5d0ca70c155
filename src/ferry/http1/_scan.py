"""Checks on a request head that has not fully arrived yet.

A strict server need not wait for the empty line that ends a head to see that the head is
broken: a bare CR or LF, a control character, a request line that cannot become a valid
one (a TLS ClientHello sent to a plain-HTTP port, say) are wrong however the head goes
on. Answering them at once, rather than when the head timeout fires, frees the
connection and tells the client what went wrong.

``HeadScan`` remembers how far it has checked, so however a head is split into reads,
each byte of its field lines is examined at most twice. A partial request line is matched
whole again on each read; ``max_request_line`` bounds that to 8 KiB per read.
"""

from __future__ import annotations

import re

from .._errors import RemoteProtocolError
from . import _abnf
from ._limits import Limits
from ._request_head import _diagnose_field_block, _parse_request_line, _target_parts

__all__ = ["HeadScan", "bare_line_break"]


def _prefixes(*parts: bytes) -> bytes:
    """A pattern for any prefix of ``parts`` concatenated (the empty one included)."""
    pattern = b""
    for part in reversed(parts):
        pattern = b"(?:" + part + pattern + b")?"
    return pattern


# RFC 9112 §3: request-line = method SP request-target SP HTTP-version. Every prefix of
# a line we would accept matches. The version is left to the parse of the whole line:
# bytes that follow an Upgrade request we ignore ("Hot diggity dogg") must wait as an
# incomplete next request, not be refused before the line ends (corpus README §4).
_request_line_prefix_re = re.compile(
    _prefixes(rb"[" + _abnf.TCHAR + rb"]+", rb" ", rb"[\x21-\x7e]+", rb" ", rb"[\x21-\x7e]+")
)
# What no field line may hold: CTLs but HTAB (RFC 9110 §5.5), and so any CR or LF that is
# not a CRLF (RFC 9112 §2.2). A partial line has no CRLF in it, by construction.
_field_ctl_re = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def _bad(message: str, status: int = 400) -> RemoteProtocolError:
    return RemoteProtocolError(message, status=status)


class HeadScan:
    """How far an incomplete request head has been checked (see the module docstring)."""

    __slots__ = ("checked", "line_start")

    def __init__(self) -> None:
        self.checked = 0  # bytes of the buffer already checked
        self.line_start = -1  # start of the partial field line; -1: request line partial

    def reset(self) -> None:
        """Forget the head: call when it has been parsed and removed from the buffer."""
        self.checked = 0
        self.line_start = -1

    def scan(self, buf: bytes, pos: int, limits: Limits) -> None:
        """Check ``buf[pos:]``, a request head whose final empty line has not arrived.

        Raises RemoteProtocolError (400, 414 or 505) if no continuation can make the head
        valid. Limits on the whole head, and the checks that need all of its fields
        (Host, Content-Length, ...), are left to the parse of the complete head.
        """
        end = len(buf)
        if buf.endswith(b"\r"):
            end -= 1  # maybe the first half of a CRLF: look at it when more bytes come
        checked = max(self.checked, pos)
        line_start = self.line_start
        last = buf.rfind(b"\r\n", checked)
        if last >= 0:  # one or more lines were completed since the last call
            if line_start < 0:
                first = buf.find(b"\r\n", pos)
                self._check_request_line(buf[pos:first], limits)
                line_start = first + 2
            if last + 2 > line_start:
                block = buf[line_start : last + 2]
                if _abnf.field_block_re.fullmatch(block) is None:
                    raise _diagnose_field_block(block)
                line_start = last + 2
        if line_start < 0:
            self._check_partial_request_line(buf[pos:end], limits)
        else:
            self._check_partial_field_line(buf, max(checked, line_start), line_start, end)
        self.checked = end
        self.line_start = line_start

    @staticmethod
    def _check_request_line(line: bytes, limits: Limits) -> None:
        if len(line) > limits.max_request_line:
            raise _bad("request line too long", 414)
        method, target, _ = _parse_request_line(line, limits)
        _target_parts(method, target)

    @staticmethod
    def _check_partial_request_line(line: bytes, limits: Limits) -> None:
        if len(line) > limits.max_request_line:
            raise _bad("request line too long", 414)
        if _request_line_prefix_re.fullmatch(line) is None:
            raise _bad("malformed request line")

    @staticmethod
    def _check_partial_field_line(buf: bytes, start: int, line_start: int, end: int) -> None:
        if start == line_start and buf[start : start + 1] in (b" ", b"\t"):
            # RFC 9112 §5.2: obs-fold (or whitespace before the first field, §2.2):
            # we reject both, as the complete head's parse would.
            raise _bad("obsolete line folding in header section")
        found = _field_ctl_re.search(buf, start, end)
        if found is not None:
            if found.group() in (b"\r", b"\n"):
                # RFC 9112 §2.2: a bare CR MUST be rejected (or replaced by SP); a bare LF
                # MAY be accepted as a line end - we do not (see docs/rfc-choices.md).
                raise _bad("bare CR or LF in request head")
            raise _bad("control character in header field")


def bare_line_break(buf: bytes, start: int, end: int) -> bool:
    """Whether ``buf[start:end]`` holds an LF or a CR that is not part of a CRLF.

    ``start`` must not be just after a CR. A CR as the very last byte is not counted: its
    LF may be on the way.
    """
    crlf = buf.count(b"\r\n", start, end)
    cr = buf.count(b"\r", start, end) - (buf[end - 1 : end] == b"\r" if end > start else 0)
    return buf.count(b"\n", start, end) != crlf or cr != crlf
