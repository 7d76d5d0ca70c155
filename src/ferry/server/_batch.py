"""Pipelined responses written as one: one send instead of one per response.

``HTTPProtocol`` starts a batch when a response completes with more requests already
waiting in its buffer (a pipeline). From then on what it writes is held here, and leaves
in one write when the pipeline stops making progress (checked once per turn of the event
loop), when it ends, past ``BATCH_BYTES``, or before anything the protocol writes to the
transport itself, so that the order of the bytes never changes.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BATCH_BYTES", "WriteBatch"]

BATCH_BYTES: Final = 65536  # pipelined responses held back for one write, at most


class WriteBatch:
    """The bytes of the responses held back, and the progress last seen."""

    __slots__ = ("_parts", "_seen", "_size")

    def __init__(self, responses: int) -> None:
        """``responses``: the connection's count of completed responses, now."""
        self._parts: list[bytes] = []
        self._size = 0
        self._seen = responses - 1  # the first look always finds progress

    def add(self, data: bytes) -> bool:
        """Hold ``data``; True once the batch holds ``BATCH_BYTES`` or more (write it)."""
        self._parts.append(data)
        self._size += len(data)
        return self._size >= BATCH_BYTES

    def progressed(self, responses: int) -> bool:
        """Whether a response was completed since the last look (``responses`` is the
        connection's count of them)."""
        if responses == self._seen:
            return False
        self._seen = responses
        return True

    def joined(self) -> bytes:
        """Everything held, as one buffer (b"" when nothing is)."""
        parts = self._parts
        return b"".join(parts) if parts else b""
