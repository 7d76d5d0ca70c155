"""The writer of one process's slot: what the server calls as it serves (compiled by
the accelerator: this is on the path of every request).

Each call adds to words of the slot (``_layout``) in place: the slot lives in memory
shared with the main process of ``--workers``, which reads it whenever it is scraped,
so a count is never held back in the worker, and a worker killed by SIGKILL has lost
nothing. One process writes a slot, so there is no lock; a reader may see a request
counted in one word and not yet in the next (the exposition format promises no more).
"""

from __future__ import annotations

import os
from time import perf_counter
from typing import TYPE_CHECKING, Final

from ._layout import (
    BUCKETS,
    CONNECTIONS,
    DURATION_SUM,
    FIRST_REQUESTS,
    HISTOGRAM,
    IN_FLIGHT,
    LOOP_LAG,
    METHOD_ROWS,
    OPEN,
    OTHER_ROW,
    PID,
    REQUEST_BYTES,
    RESPONSE_BYTES,
    error_index,
    status_column,
)

if TYPE_CHECKING:
    from ..http1 import Request

__all__ = ["Recorder"]

_BUCKET_COUNT: Final = len(BUCKETS)


class Recorder:
    """Counts one process's traffic into ``slot`` (``SLOT_BYTES`` bytes, zeroed)."""

    def __init__(self, slot: memoryview) -> None:
        self.words = slot.cast("Q")
        self.reals = slot.cast("d")
        self.words[PID] = os.getpid()
        # Attributes, not module globals: the compiled code reads them without a lookup.
        self.rows: dict[bytes, int] = METHOD_ROWS
        self.bounds: tuple[float, ...] = BUCKETS

    def connection_opened(self) -> None:
        """A connection was accepted."""
        words = self.words
        words[CONNECTIONS] += 1

    def body_received(self, size: int) -> None:
        """``size`` bytes of a request body arrived (after its framing)."""
        words = self.words
        words[REQUEST_BYTES] += size

    def exchange(
        self, request: Request | None, status: int, body_bytes: int, start: float, first: bool
    ) -> None:
        """A response is complete: ``status``, with ``body_bytes`` of body, to
        ``request`` whose head was parsed at ``start`` (``perf_counter()``); ``first``:
        the first response on its connection (the others reused it)."""
        duration = perf_counter() - start
        words = self.words
        row = OTHER_ROW if request is None else self.rows.get(request.method, OTHER_ROW)
        words[row + status_column(status)] += 1
        bounds = self.bounds
        bucket = 0
        while bucket < _BUCKET_COUNT and duration > bounds[bucket]:
            bucket += 1
        words[HISTOGRAM + bucket] += 1
        reals = self.reals
        reals[DURATION_SUM] += duration
        if body_bytes:
            words[RESPONSE_BYTES] += body_bytes
        if first:
            words[FIRST_REQUESTS] += 1

    def protocol_error(self, status: int) -> None:
        """The server answered a protocol error with ``status`` (others are ignored)."""
        index = error_index(status)
        if index >= 0:
            words = self.words
            words[index] += 1

    def gauges(self, in_flight: int, open_connections: int) -> None:
        """The gauges as they are now (written by the server's ticker, and before a
        scrape of a single process)."""
        words = self.words
        words[IN_FLIGHT] = in_flight
        words[OPEN] = open_connections

    def loop_lag(self, seconds: float) -> None:
        """How late the event loop last ran a timer (the server's ticker measures it)."""
        reals = self.reals
        reals[LOOP_LAG] = seconds
