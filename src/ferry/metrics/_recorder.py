"""The writer of one process's slot: what the server calls as it serves (compiled by
the accelerator: this is on the path of every request).

The process counts in its own memory and publishes into the words of its slot
(``_layout``) in batches: the slot lives in memory shared with the main process of
``--workers``, which reads it whenever it is scraped, and keeps what a worker published
when it dies. Batching is what keeps metrics within a few percent of a request's cost
(docs/metrics.md, "What it costs"); its price is that a scrape can be up to half a
second behind a worker, and a worker killed by SIGKILL loses what it counted since its
last publish (a graceful stop publishes everything first). One process writes a slot,
so there is no lock; a reader may see a batch stored in one word and not yet in the
next (the exposition format promises no more).
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
PUBLISH_EVERY: Final = 64  # responses counted in the process, at most, between stores


class Recorder:
    """Counts one process's traffic into ``slot`` (``SLOT_BYTES`` bytes, zeroed).

    A response is counted in the process first, with native arithmetic: its duration
    and body bytes in sums, its method-and-status cell and its duration bucket in runs
    (a count for the same cell as the last response's, which is what a server mostly
    sees). ``publish`` stores what changed into the slot: every ``PUBLISH_EVERY``
    responses, on the server's ticker (every 0.5 s), before a single process's scrape
    and when the server stops. A memoryview store is the expensive step (about 300
    instructions, as much as the rest of the count), so a response costs a few
    additions instead of four stores. A worker killed by SIGKILL loses what it counted
    since its last publish: at most ``PUBLISH_EVERY - 1`` responses, and at most half
    a second's. Protocol errors, rare, are stored at once."""

    def __init__(self, slot: memoryview) -> None:
        self.words = slot.cast("Q")
        self.reals = slot.cast("d")
        self.words[PID] = os.getpid()
        # The slot's words as published, plus the runs spilled since (``dirty``).
        self.local: list[int] = [0] * WORDS
        self.dirty: list[int] = []
        self.connections = 0
        self.first_requests = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.duration_sum = 0.0
        # The current runs: a word, and the responses counted in it not yet in local.
        self.cell = OTHER_ROW
        self.cell_run = 0
        self.bucket = HISTOGRAM
        self.bucket_run = 0
        self.unpublished = 0
        # Attributes, not module globals: the compiled code reads them without a lookup.
        self.rows: dict[bytes, int] = METHOD_ROWS
        self.bounds: tuple[float, ...] = BUCKETS
        self.clock: Callable[[], float] = perf_counter
        # The last method seen and its row: a server's parsed heads are cached and
        # shared (``http1._caches``), so the same bytes object comes again and again.
        self.last_method = b""
        self.last_row = OTHER_ROW

    def _spill(self, index: int, count: int) -> None:
        """Add a run's ``count`` to word ``index``, to be stored by ``publish``."""
        if count:
            local = self.local
            local[index] += count
            self.dirty.append(index)

    def connection_opened(self) -> None:
        """A connection was accepted."""
        self.connections += 1

    def body_received(self, size: int) -> None:
        """``size`` bytes of a request body arrived (after its framing)."""
        self.request_bytes += size

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
        cell = row + status_column(status)
        # The two runs (cell, then bucket) are written out, not shared in a method: a
        # call is most of what a response costs here (bench/instructions.py).
        if cell == self.cell:
            self.cell_run += 1
        else:
            self._spill(self.cell, self.cell_run)
            self.cell = cell
            self.cell_run = 1
        bounds = self.bounds
        bucket = 0
        while bucket < _BUCKET_COUNT and duration > bounds[bucket]:
            bucket += 1
        bucket += HISTOGRAM
        if bucket == self.bucket:
            self.bucket_run += 1
        else:
            self._spill(self.bucket, self.bucket_run)
            self.bucket = bucket
            self.bucket_run = 1
        self.duration_sum += duration
        self.response_bytes += body_bytes
        if first:
            self.first_requests += 1
        unpublished = self.unpublished + 1
        if unpublished < PUBLISH_EVERY:
            self.unpublished = unpublished
        else:
            self.publish()

    def publish(self) -> None:
        """Store into the slot everything counted since the last publish."""
        self._spill(self.cell, self.cell_run)
        self.cell_run = 0
        self._spill(self.bucket, self.bucket_run)
        self.bucket_run = 0
        self.unpublished = 0
        words = self.words
        local = self.local
        dirty = self.dirty
        for index in dirty:
            words[index] = local[index]
        dirty.clear()
        words[CONNECTIONS] = self.connections
        words[FIRST_REQUESTS] = self.first_requests
        words[REQUEST_BYTES] = self.request_bytes
        words[RESPONSE_BYTES] = self.response_bytes
        reals = self.reals
        reals[DURATION_SUM] = self.duration_sum

    def protocol_error(self, status: int) -> None:
        """The server answered a protocol error with ``status`` (others are ignored)."""
        index = error_index(status)
        if index >= 0:
            local = self.local
            value = local[index] + 1
            local[index] = value
            words = self.words
            words[index] = value

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
