"""``wsgi.input``: the request body, pulled from ASGI ``receive`` as the app reads it.

The application's thread asks the event loop for the next body piece only when its
buffer cannot answer a read; nothing reads the whole body ahead of the application, so
an upload costs the memory of the pieces in flight, not its size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .._errors import ClientDisconnected
from ..asgi._types import Message

__all__ = ["WSGIInput"]


class WSGIInput:
    """A binary, read-only file-like (PEP 3333 ``wsgi.input``). Call it from the
    application's thread only: each refill calls ``fetch``, which blocks that thread
    until the event loop has received the next ASGI ``http.request`` (or
    ``http.disconnect``) message.

    ``read``/``readline`` raise ClientDisconnected (an OSError) when the client goes
    away before the body's end.
    """

    def __init__(self, fetch: Callable[[], Message]) -> None:
        self._fetch = fetch
        self._buffer = bytearray()
        self._eof = False

    def _fill(self) -> None:
        """Append the next body piece to the buffer (blocks on the loop)."""
        message = self._fetch()
        if message["type"] == "http.disconnect":
            self._eof = True
            raise ClientDisconnected("the client closed the connection inside the body")
        self._buffer += message.get("body", b"")
        if not message.get("more_body", False):
            self._eof = True

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest when ``size`` is None or negative); b"" at
        the end of the body."""
        if size is None or size < 0:
            while not self._eof:
                self._fill()
            return self._take(len(self._buffer))
        while len(self._buffer) < size and not self._eof:
            self._fill()
        return self._take(size)

    def read1(self, size: int = -1) -> bytes:
        """What is buffered, or one piece from the client: never waits for more."""
        if not self._buffer and not self._eof:
            self._fill()
        return self._take(len(self._buffer) if size < 0 else size)

    def readline(self, size: int | None = -1) -> bytes:
        """One line, with its b"\\n"; at most ``size`` bytes when given."""
        limit = -1 if size is None else size
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0 and (limit < 0 or end < limit):
                return self._take(end + 1)
            if 0 <= limit <= len(self._buffer) or self._eof:
                return self._take(len(self._buffer) if limit < 0 else limit)
            self._fill()

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line
