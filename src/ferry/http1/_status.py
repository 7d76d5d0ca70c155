"""Status lines with their canonical reason phrases (RFC 9110 §15)."""

from __future__ import annotations

import http

__all__ = ["reason_phrase", "status_line"]

_REASONS: dict[int, bytes] = {s.value: s.phrase.encode("ascii") for s in http.HTTPStatus}
# RFC 9110 renamed four; Python 3.11's http.HTTPStatus still has the RFC 7231 phrases.
_REASONS[413] = b"Content Too Large"  # §15.5.14
_REASONS[414] = b"URI Too Long"  # §15.5.15
_REASONS[416] = b"Range Not Satisfiable"  # §15.5.17
_REASONS[422] = b"Unprocessable Content"  # §15.5.21

_STATUS_LINES: dict[int, bytes] = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, _REASONS.get(code, b"")) for code in range(100, 600)
}


def reason_phrase(status: int) -> bytes:
    """The canonical reason phrase for ``status``, or ``b""`` for an unregistered code."""
    return _REASONS.get(status, b"")


def status_line(status: int) -> bytes:
    """``HTTP/1.1 NNN Reason\\r\\n`` for a status in 100..599 (KeyError otherwise)."""
    return _STATUS_LINES[status]
