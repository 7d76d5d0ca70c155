"""The ``Date`` header field value, formatted once per second (RFC 9110 §6.6.1)."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import formatdate

__all__ = ["date_header"]

_cached_second = -1
_cached_line = b""

clock: Callable[[], float] = time.time
"""Where the current time comes from: a seam for tests, honoured by the compiled
accelerator too (a module variable is looked up at each call; a function is not)."""


def date_header(now: float | None = None) -> bytes:
    """``Date: <IMF-fixdate>\\r\\n`` for the current second (or ``now``), cached per second."""
    global _cached_second, _cached_line
    second = int(clock() if now is None else now)
    if second != _cached_second:
        _cached_line = b"Date: %s\r\n" % formatdate(second, usegmt=True).encode("ascii")
        _cached_second = second
    return _cached_line
