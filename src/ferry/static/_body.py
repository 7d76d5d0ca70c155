"""Writing a file's bytes through ASGI ``send``: zero-copy when the server offers it.

Three ways, best first:

- ``http.response.zerocopysend`` (an fd, offset and count): the server hands the bytes to
  the socket with ``sendfile``; used for whole files, single ranges and each part of a
  multipart body larger than ``SMALL_RANGE`` (smaller ones are read: they then leave in
  one write with the response head, which costs less than a separate sendfile). The
  server is done with the fd when ``send`` returns; we close it after.
- ``http.response.pathsend`` (a path): for a whole file when only that extension is offered.
- ``http.response.body`` pieces of at most ``CHUNK_SIZE`` bytes, read with ``os.pread``:
  memory stays bounded whatever the file's size, and ``send`` applies backpressure.
  Reads are not moved to a thread: served files are normally in the page cache, where a
  64 KiB read takes microseconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import FerryError
from ._encoding import GzipCompressor
from ._ranges import ByteRange

if TYPE_CHECKING:  # only: ferry.asgi imports ferry.static (see tests/static/test_imports.py)
    from ..asgi import Send

__all__ = [
    "CHUNK_SIZE",
    "PATHSEND",
    "ZEROCOPYSEND",
    "BodyWriter",
    "FileBody",
    "FileShrankError",
    "gzip_pieces",
]

CHUNK_SIZE = 64 * 1024
SMALL_RANGE = CHUNK_SIZE  # ranges up to this size are read, not sent with sendfile
ZEROCOPYSEND = "http.response.zerocopysend"
PATHSEND = "http.response.pathsend"


class FileShrankError(FerryError, OSError):
    """The file got shorter while it was being sent: the announced length can't be kept,
    so the response must be aborted (the server closes the connection). An OSError, as
    what the file system did to us; a FerryError, as everything Ferry raises."""


@dataclass(slots=True)
class FileBody:
    """What to send of an open file: literal bytes (multipart framing) and byte ranges.

    ``path`` and ``size`` describe the file so a whole-file body can go by path.
    """

    fd: int
    path: str
    size: int
    pieces: list[bytes | ByteRange]

    @classmethod
    def whole(cls, fd: int, path: str, size: int) -> FileBody:
        """All of the file: one range (none for an empty file)."""
        return cls(fd, path, size, [ByteRange(0, size - 1)] if size else [])

    @property
    def is_whole_file(self) -> bool:
        piece = self.pieces[0] if len(self.pieces) == 1 else None
        return isinstance(piece, ByteRange) and piece.start == 0 and piece.length == self.size


class BodyWriter:
    """Sends response bodies for one request, choosing how from the scope's extensions."""

    __slots__ = ("_pathsend", "_send", "_zerocopy")

    def __init__(self, send: Send, extensions: dict[str, Any]) -> None:
        self._send = send
        self._zerocopy = ZEROCOPYSEND in extensions
        self._pathsend = PATHSEND in extensions

    async def send_bytes(self, body: bytes, *, more_body: bool = False) -> None:
        await self._send({"type": "http.response.body", "body": body, "more_body": more_body})

    async def send_file(self, body: FileBody) -> None:
        """Send every piece of ``body``; the last one ends the response."""
        if not self._zerocopy and self._pathsend and body.is_whole_file:
            await self._send({"type": PATHSEND, "path": body.path})
            return
        last = len(body.pieces) - 1
        for index, piece in enumerate(body.pieces):
            more = index < last
            if isinstance(piece, bytes):
                await self.send_bytes(piece, more_body=more)
            else:
                await self._send_range(body.fd, piece.start, piece.length, more_body=more)
        if last < 0:
            await self.send_bytes(b"")

    async def _send_range(self, fd: int, offset: int, count: int, *, more_body: bool) -> None:
        # Up to one piece, reading is cheaper than a separate sendfile: the bytes leave in
        # the same write as the response head (one syscall instead of two).
        if self._zerocopy and count > SMALL_RANGE:
            await self._send(
                {
                    "type": ZEROCOPYSEND,
                    "file": fd,
                    "offset": offset,
                    "count": count,
                    "more_body": more_body,
                }
            )
            return
        end = offset + count
        while offset < end:
            data = os.pread(fd, min(CHUNK_SIZE, end - offset), offset)
            if not data:
                raise FileShrankError(f"file ended {end - offset} bytes early")
            offset += len(data)
            await self.send_bytes(data, more_body=more_body or offset < end)

    async def send_pieces(self, pieces: tuple[bytes, ...]) -> None:
        """Send bytes held in memory as these body messages; the last ends the response."""
        for piece in pieces[:-1]:
            await self.send_bytes(piece, more_body=True)
        await self.send_bytes(pieces[-1])

    async def send_gzip(self, fd: int, size: int) -> None:
        """Compress the first ``size`` bytes of ``fd`` as they are read, piece by piece.

        The length is not announced, so a file that shrinks meanwhile just ends early.
        """
        compressor = GzipCompressor()
        offset = 0
        while offset < size:
            data = os.pread(fd, min(CHUNK_SIZE, size - offset), offset)
            if not data:
                break
            offset += len(data)
            compressed = compressor.compress(data)
            if compressed:
                await self.send_bytes(compressed, more_body=True)
        await self.send_bytes(compressor.flush())


def gzip_pieces(data: bytes) -> tuple[bytes, ...]:
    """The body messages ``send_gzip`` sends for a file of at most ``CHUNK_SIZE`` bytes
    holding ``data`` (the same bytes, the same framing)."""
    compressor = GzipCompressor()
    first = compressor.compress(data)
    last = compressor.flush()
    return (first, last) if first else (last,)
