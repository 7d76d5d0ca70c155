"""Checks on a head that has not fully arrived yet, for both roles.

A strict peer need not wait for the empty line that ends a head to see that the head is
broken: a bare CR or LF, a control character, a first line that cannot become a valid
one (a TLS ClientHello sent to a plain-HTTP port, say) are wrong however the head goes
on. Refusing them at once, rather than when the head timeout fires, frees the
connection and says what went wrong.

A request head and a response head have the same shape (a first line, then field lines,
RFC 9112 §2.1), so one ``HeadScan`` checks both; what differs, the first line's grammar
and the wording of the errors, is a ``HeadGrammar`` (``_request_head.REQUEST_HEAD``,
``_response_head.RESPONSE_HEAD``).

``HeadScan`` remembers how far it has checked, so however a head is split into reads,
each byte of its field lines is examined at most twice. A partial first line is matched
whole again on each read; ``max_request_line`` bounds that to 8 KiB per read for a
request line (a status line is bounded by ``max_head_size`` alone).
"""

from __future__ import annotations

from collections.abc import Callable

from . import _abnf
from ._fields import bad, diagnose_field_block
from ._limits import Limits

__all__ = ["HeadGrammar", "HeadScan", "bare_line_break"]

LineCheck = Callable[[bytes, Limits], None]
"""Raises RemoteProtocolError for a first line (or the start of one) that cannot be valid."""


class HeadGrammar:
    """What a ``HeadScan`` needs to know of one kind of head."""

    __slots__ = (
        "bare_message",
        "check_line",
        "check_partial_line",
        "ctl_message",
        "fold_message",
        "line_breaks_first",
    )

    def __init__(
        self,
        check_line: LineCheck,
        check_partial_line: LineCheck,
        *,
        line_breaks_first: bool,
        bare_message: str,
        fold_message: str,
        ctl_message: str,
    ) -> None:
        self.check_line = check_line
        """Checks a complete first line, its CRLF left out."""
        self.check_partial_line = check_partial_line
        """Checks the start of a first line whose CRLF has not arrived."""
        self.line_breaks_first = line_breaks_first
        """Whether a bare CR or LF anywhere is refused before the lines are checked (and
        so is named as such, rather than as the broken line it is in)."""
        self.bare_message = bare_message
        self.fold_message = fold_message
        self.ctl_message = ctl_message


class HeadScan:
    """How far an incomplete head has been checked (see the module docstring)."""

    __slots__ = ("_grammar", "checked", "line_start")

    def __init__(self, grammar: HeadGrammar) -> None:
        self._grammar = grammar
        self.checked = 0  # bytes of the buffer already checked
        self.line_start = -1  # start of the partial field line; -1: first line partial

    def reset(self) -> None:
        """Forget the head: call when it has been parsed and removed from the buffer."""
        self.checked = 0
        self.line_start = -1

    def scan(self, buf: bytes, pos: int, limits: Limits) -> None:
        """Check ``buf[pos:]``, a head whose final empty line has not arrived.

        Raises RemoteProtocolError (400; 414 or 505 for a request line) if no
        continuation can make the head valid. Limits on the whole head, and the checks
        that need all of its fields (Host, Content-Length, ...), are left to the parse of
        the complete head.
        """
        grammar = self._grammar
        end = len(buf)
        if buf.endswith(b"\r"):
            end -= 1  # maybe the first half of a CRLF: look at it when more bytes come
        checked = max(self.checked, pos)
        if grammar.line_breaks_first and bare_line_break(buf, checked, end):
            # RFC 9112 §2.2: a bare CR MUST be rejected; a bare LF MAY be taken as a line
            # end: we do not (a smuggling and response-splitting vector).
            raise bad(grammar.bare_message)
        line_start = self.line_start
        last = buf.rfind(b"\r\n", checked)
        if last >= 0:  # one or more lines were completed since the last call
            if line_start < 0:
                first = buf.find(b"\r\n", pos)
                grammar.check_line(buf[pos:first], limits)
                line_start = first + 2
            if last + 2 > line_start:
                block = buf[line_start : last + 2]
                if _abnf.field_block_re.fullmatch(block) is None:
                    raise diagnose_field_block(block)
                line_start = last + 2
        if line_start < 0:
            grammar.check_partial_line(buf[pos:end], limits)
        else:
            self._check_partial_field_line(buf, max(checked, line_start), line_start, end)
        self.checked = end
        self.line_start = line_start

    def _check_partial_field_line(self, buf: bytes, start: int, line_start: int, end: int) -> None:
        grammar = self._grammar
        if start == line_start and buf[start : start + 1] in (b" ", b"\t"):
            # RFC 9112 §5.2: obs-fold (or whitespace before the first field, §2.2):
            # we reject both, as the complete head's parse would.
            raise bad(grammar.fold_message)
        found = _abnf.field_ctl_re.search(buf, start, end)
        if found is not None:
            if found.group() in (b"\r", b"\n"):
                # RFC 9112 §2.2: a bare CR MUST be rejected (or replaced by SP); a bare LF
                # MAY be accepted as a line end - we do not (see docs/rfc-choices.md).
                raise bad(grammar.bare_message)
            raise bad(grammar.ctl_message)


def bare_line_break(buf: bytes, start: int, end: int) -> bool:
    """Whether ``buf[start:end]`` holds an LF or a CR that is not part of a CRLF.

    ``start`` must not be just after a CR. A CR as the very last byte is not counted: its
    LF may be on the way.
    """
    crlf = buf.count(b"\r\n", start, end)
    cr = buf.count(b"\r", start, end) - (buf[end - 1 : end] == b"\r" if end > start else 0)
    return buf.count(b"\n", start, end) != crlf or cr != crlf
