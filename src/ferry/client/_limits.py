"""What bounds one request as a whole, without I/O: its total deadline
(``Timeouts.total``) and the size of its response body (``max_response_size``).

The steps' own timeouts (``Timeouts.connect``, ``read``, ...) bound one wait each: a
server that sends a byte just before each read timeout, or an endless body, would hold a
request forever within them. These two bound the whole exchange, as curl's
``--max-time`` and ``--max-filesize`` do.

A deadline works through the steps' limits: every I/O layer reads the limit of the step
it starts from a ``Deadline`` as from ``Timeouts``, and gets the smaller of the step's
own limit and the time left. So a step never waits past the deadline, on either client
(a blocking socket has no other clock), and the client, where a step's timeout reaches
it, turns it into TotalTimeout when the deadline is what ran out (``passed``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeGuard

from .._errors import ClientTimeout, ResponseTooLarge, TotalTimeout
from ..http1 import Headers
from ._models import Timeouts, header_value

__all__ = [
    "Deadline",
    "StepTimeouts",
    "declared_length",
    "passed",
    "too_large",
]

_EARLY = 0.001
"""A timer may fire this much before its time (asyncio's clock resolution, rounding):
a step that timed out this close to the deadline timed out on it."""


class Deadline:
    """A request's ``Timeouts`` under its total deadline, which runs from when the
    ``Deadline`` is made (``timeouts.total`` must be set): ``connect``, ``read``,
    ``write`` and ``pool`` are each the step's own limit, or the seconds left when that is
    less. Reading one once the deadline has passed raises TotalTimeout: every step reads
    its limit as it starts, so none starts late. ``clock`` is injectable for tests."""

    __slots__ = ("_clock", "at", "timeouts")

    def __init__(self, timeouts: Timeouts, clock: Callable[[], float] = time.monotonic) -> None:
        assert timeouts.total is not None, "a Deadline needs Timeouts.total"
        self.timeouts = timeouts
        self._clock = clock
        self.at = clock() + timeouts.total
        """When the deadline passes (on ``clock``)."""

    @property
    def connect(self) -> float | None:
        return self._limit(self.timeouts.connect)

    @property
    def read(self) -> float | None:
        return self._limit(self.timeouts.read)

    @property
    def write(self) -> float | None:
        return self._limit(self.timeouts.write)

    @property
    def pool(self) -> float | None:
        return self._limit(self.timeouts.pool)

    @property
    def total(self) -> float | None:
        return self.timeouts.total

    def check(self) -> None:
        """Raise TotalTimeout if the deadline has passed."""
        if self._clock() >= self.at:
            raise self.error()

    def expired(self) -> bool:
        """Whether the deadline has passed (or is about to: see ``_EARLY``)."""
        return self._clock() >= self.at - _EARLY

    def error(self) -> TotalTimeout:
        return TotalTimeout(
            f"the request took longer than its total deadline "
            f"(Timeouts.total) of {self.timeouts.total} s"
        )

    def _limit(self, own: float | None) -> float:
        left = self.at - self._clock()
        if left <= 0:
            raise self.error()
        return left if own is None or left < own else own


StepTimeouts = Timeouts | Deadline
"""Where the I/O layers read each step's time limit from: a request's ``Timeouts``, or
its ``Deadline`` when it has a total one."""


def passed(timeouts: StepTimeouts, exc: ClientTimeout) -> TypeGuard[Deadline]:
    """Whether ``exc``, a step's timeout, came from the deadline of ``timeouts`` (which
    then passed): TotalTimeout (``timeouts.error()``) is then the error to raise."""
    return type(timeouts) is Deadline and type(exc) is not TotalTimeout and timeouts.expired()


def declared_length(method: bytes, status: int, headers: Headers) -> int | None:
    """The body size a response's Content-Length declares (``headers`` as received,
    names in lower case, checked by the engine); None without one, or for a response
    that has no body whatever it says: RFC 9112 §6.3 (1), a response to HEAD, a 1xx, 204
    or 304, and (2) (3): Transfer-Encoding overrides Content-Length."""
    if method == b"HEAD" or status < 200 or status == 204 or status == 304:
        return None
    value = header_value(headers, b"content-length")
    if value is None or header_value(headers, b"transfer-encoding") is not None:
        return None
    # RFC 9110 §8.6: a list of equal values ("10, 10"), which the engine let through.
    first = value.partition(b",")[0].strip()
    return int(first) if first.isdigit() else None


def too_large(limit: int, size: int, *, declared: bool) -> ResponseTooLarge:
    """The error for a body of ``size`` bytes (declared, or received so far) over
    ``limit``."""
    if declared:
        message = f"the response body ({size} bytes, its Content-Length) is larger"
    else:
        message = f"the response body ({size} bytes received so far) is larger"
    message += f" than max_response_size ({limit} bytes)"
    return ResponseTooLarge(message, limit=limit, size=size)
