"""The slots of all the processes of one server, in one anonymous shared mapping.

Made in the main process before it forks (``MAP_SHARED``: a worker's writes are the
main process's reads, with no copy, no pipe and no lock), with one fixed-size slot per
worker (``_layout``), each written by one process only (``Recorder``). The main process
reads them all for a scrape; when a worker is gone (by any death, SIGKILL too: its
counts are already in the shared pages), ``retire`` folds the slot's counters into the
retired totals kept here and frees the slot for the next worker. Gauges (requests in
flight, open connections, loop lag) describe a live process: a dead one's are dropped.

A single process (no ``--workers``) uses the same object with one slot.
"""

from __future__ import annotations

import contextlib
import mmap
from dataclasses import dataclass, field

from ._layout import FLOATS, GAUGES_END, IN_FLIGHT, LOOP_LAG, OPEN, PID, SLOT_BYTES, WORDS

__all__ = ["SharedSlots", "Snapshot"]


@dataclass
class Snapshot:
    """The sum of the counters over every slot, live or retired (``words``, indexed as
    in ``_layout``, the float words as floats), and the gauges of the live ones."""

    words: list[float]
    in_flight: int = 0
    open_connections: int = 0
    # (slot index, pid, loop lag in seconds) of each live slot
    live: list[tuple[int, int, float]] = field(default_factory=list)


class SharedSlots:
    """``count`` slots, all free at first."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._map = mmap.mmap(-1, count * SLOT_BYTES, flags=mmap.MAP_SHARED)
        self._view = memoryview(self._map)
        self._free = list(range(count))
        self._used: set[int] = set()
        self._retired: list[float] = [0] * WORDS

    def assign(self) -> int | None:
        """Take the lowest free slot (its index labels the worker); None when all are
        taken (that worker then goes uncounted)."""
        if not self._free:
            return None
        index = min(self._free)
        self._free.remove(index)
        self._used.add(index)
        return index

    def slot(self, index: int) -> memoryview:
        """The bytes of slot ``index``, for its ``Recorder``."""
        return self._view[index * SLOT_BYTES : (index + 1) * SLOT_BYTES]

    def retire(self, index: int) -> None:
        """The process of slot ``index`` is gone: keep its counters, free the slot."""
        if index not in self._used:
            return
        retired = self._retired
        for position, value in enumerate(self._read(index)):
            if position >= GAUGES_END:
                retired[position] += value
        self.slot(index)[:] = bytes(SLOT_BYTES)
        self._used.discard(index)
        self._free.append(index)

    def snapshot(self) -> Snapshot:
        """What every slot holds now, with the retired totals."""
        totals = list(self._retired)
        snapshot = Snapshot(totals)
        for index in sorted(self._used):
            words = self._read(index)
            for position in range(GAUGES_END, WORDS):
                totals[position] += words[position]
            pid = int(words[PID])
            if pid:  # 0: the worker has not started writing yet
                snapshot.in_flight += int(words[IN_FLIGHT])
                snapshot.open_connections += int(words[OPEN])
                snapshot.live.append((index, pid, words[LOOP_LAG]))
        return snapshot

    def _read(self, index: int) -> list[float]:
        """Slot ``index``'s words, the float words as floats."""
        slot = self.slot(index)
        words: list[float] = list(slot.cast("Q")[:WORDS].tolist())
        reals = slot.cast("d")
        for position in FLOATS:
            words[position] = reals[position]
        return words

    def close(self) -> None:
        """Unmap, once no ``Recorder`` holds a view of a slot (else the mapping goes
        with the process)."""
        with contextlib.suppress(BufferError):
            self._view.release()
            self._map.close()
