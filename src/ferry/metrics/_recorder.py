"""The writer of one process's slot: what the server calls as it serves (compiled by
the accelerator: this is on the path of every request).

Each call updates words of the slot (``_layout``) in place: the slot lives in memory
shared with the main process of ``--workers``, which reads it whenever it is scraped,
so a count is never held back in the worker, and a worker killed by SIGKILL has lost
nothing. One process writes a slot, so there is no lock; a reader may see a request
counted in one word and not yet in the next (the exposition format promises no more).
"""

from __future__ import annotations

import os
from collections.abc import Callable
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
    WORDS,
    error_index,
    status_column,
)

if TYPE_CHECKING:
    from ..http1 import Request

__all__ = ["Recorder"]

_BUCKET_COUNT: Final = len(BUCKETS)


class Recorder:
    """Counts one process's traffic into ``slot`` (``SLOT_BYTES`` bytes, zeroed).

    The cost is per request, so it is kept to a few stores: the process keeps its own
    copy of every word (``local``, and ``duration_sum``) and adds there, with native
    arithmetic, then stores the new value into the slot (a memoryview store is the
    expensive step, and a load before it would double it). One process writes a slot,
    so its copy and the slot never differ once a call returns."""

    def __init__(self, slot: memoryview) -> None:
        self.words = slot.cast("Q")
        self.reals = slot.cast("d")
        self.words[PID] = os.getpid()
        self.local: list[int] = [0] * WORDS
        self.duration_sum = 0.0
        # Attributes, not module globals: the compiled code reads them without a lookup.
        self.rows: dict[bytes, int] = METHOD_ROWS
        self.bounds: tuple[float, ...] = BUCKETS
        self.clock: Callable[[], float] = perf_counter
        # The last method seen and its row: a server's parsed heads are cached and
        # shared (``http1._caches``), so the same bytes object comes again and again.
        self.last_method = b""
        self.last_row = OTHER_ROW

    def _add(self, index: int, count: int) -> None:
        local = self.local
        value = local[index] + count
        local[index] = value
        words = self.words
        words[index] = value

    def connection_opened(self) -> None:
        """A connection was accepted."""
        self._add(CONNECTIONS, 1)

    def body_received(self, size: int) -> None:
        """``size`` bytes of a request body arrived (after its framing)."""
        self._add(REQUEST_BYTES, size)

    def exchange(
        self, request: Request | None, status: int, body_bytes: int, start: float, first: bool
    ) -> None:
        """A response is complete: ``status``, with ``body_bytes`` of body, to
        ``request`` whose head was parsed at ``start`` (``perf_counter()``); ``first``:
        the first response on its connection (the others reused it)."""
        duration = self.clock() - start
        if request is None:
            row = OTHER_ROW
        else:
            method = request.method
            if method is self.last_method:
                row = self.last_row
            else:
                row = self.rows.get(method, OTHER_ROW)
                self.last_method = method
                self.last_row = row
        self._add(row + status_column(status), 1)
        bounds = self.bounds
        bucket = 0
        while bucket < _BUCKET_COUNT and duration > bounds[bucket]:
            bucket += 1
        self._add(HISTOGRAM + bucket, 1)
        total = self.duration_sum + duration
        self.duration_sum = total
        reals = self.reals
        reals[DURATION_SUM] = total
        if body_bytes:
            self._add(RESPONSE_BYTES, body_bytes)
        if first:
            self._add(FIRST_REQUESTS, 1)

    def protocol_error(self, status: int) -> None:
        """The server answered a protocol error with ``status`` (others are ignored)."""
        index = error_index(status)
        if index >= 0:
            self._add(index, 1)

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
