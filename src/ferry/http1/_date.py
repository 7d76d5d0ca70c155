"""The ``Date`` header field value, formatted once per second (RFC 9110 §6.6.1)."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Final

__all__ = ["date_header"]

clock: Callable[[], float] = time.time
"""Where the current time comes from: a seam for tests, honoured by the compiled
accelerator too (a module variable is looked up at each call; a function is not)."""


class _Cache:
    """The last second formatted, and its line (an object: the compiled accelerator
    reads its attributes directly, where module variables cost a dict lookup each)."""

    __slots__ = ("line", "second")

    def __init__(self) -> None:
        self.second = -1
        self.line = b""


_cache: Final = _Cache()


def date_header(now: float | None = None) -> bytes:
    """``Date: <IMF-fixdate>\\r\\n`` for the current second (or ``now``), cached per second."""
    cache = _cache
    second = int(clock() if now is None else now)
    if second != cache.second:
        cache.line = b"Date: %s\r\n" % formatdate(second, usegmt=True).encode("ascii")
        cache.second = second
    return cache.line
