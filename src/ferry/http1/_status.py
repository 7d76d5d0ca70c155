"""Status lines with their canonical reason phrases (RFC 9110 §15)."""

from __future__ import annotations

import http

__all__ = ["reason_phrase", "status_line"]

_REASONS: dict[int, bytes] = {s.value: s.phrase.encode("ascii") for s in http.HTTPStatus}
# RFC 9110 §15.5.14 renamed 413 and §15.5.21 renamed 422.
_REASONS[413] = b"Content Too Large"
_REASONS[422] = b"Unprocessable Content"

_STATUS_LINES: dict[int, bytes] = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, _REASONS.get(code, b"")) for code in range(100, 600)
}


def reason_phrase(status: int) -> bytes:
    """The canonical reason phrase for ``status``, or ``b""`` for an unregistered code."""
    return _REASONS.get(status, b"")


def status_line(status: int) -> bytes:
    """``HTTP/1.1 NNN Reason\\r\\n`` for a status in 100..599 (KeyError otherwise)."""
    return _STATUS_LINES[status]
