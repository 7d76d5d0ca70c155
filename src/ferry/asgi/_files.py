"""The ASGI zero-copy extensions: ``http.response.pathsend`` (send a whole file by path)
and ``http.response.zerocopysend`` (send a range of an open file).

This module reads the messages; the server sends the file (server/_sendfile.py). The
bytes go from the page cache to the socket without passing through Python, with
``os.sendfile`` on the transport's socket, on asyncio and uvloop alike; only where the
socket can't be written behind the transport's back (TLS) are they read and written in
bounded pieces, waiting for the client between pieces.
"""

from __future__ import annotations

import os
from typing import IO, Any

from .._errors import LocalProtocolError
from ._types import Message

__all__ = ["Descriptor", "open_path", "zerocopy_range"]


class Descriptor:
    """An application's open file descriptor, standing in for a file object: what
    ``zerocopy_range`` and sending the file use (``fileno``, ``tell``, ``seek``), and
    reading it as a file (``readinto``, ``mode``). The app owns it: it is never closed
    here. ``open(fd, closefd=False)`` would cost an fstat, an ioctl and an lseek, and two
    objects, for every message.
    """

    __slots__ = ("_fd",)
    mode = "rb"

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self._fd, offset, whence)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        return os.readv(self._fd, [buffer])


def open_path(message: Message) -> tuple[IO[bytes], int]:
    """Open the file of a pathsend message: (file, size). The caller closes it."""
    path = message.get("path")
    if not isinstance(path, str) or not os.path.isabs(path):
        raise LocalProtocolError("http.response.pathsend 'path' must be an absolute path")
    file = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    return file, os.fstat(file.fileno()).st_size


def zerocopy_range(message: Message) -> tuple[IO[bytes], int, int, bool, bool]:
    """(file, offset, count, more_body, whether to advance the file's position) from a
    zerocopysend message. ``file`` may be an open binary file or a file descriptor (then
    a ``Descriptor``, typed as the file object it stands in for)."""
    file: Any = message.get("file")
    if isinstance(file, int):
        file = Descriptor(file)
    elif not hasattr(file, "fileno"):
        raise LocalProtocolError("http.response.zerocopysend 'file' must have a fileno()")
    offset: Any = message.get("offset")
    advance = offset is None
    if advance:
        offset = file.tell()
    count: Any = message.get("count")
    if type(offset) is not int or offset < 0:
        raise LocalProtocolError("http.response.zerocopysend offset must be an int >= 0")
    if count is None:
        count = os.fstat(file.fileno()).st_size - offset
    if type(count) is not int or count < 0:
        raise LocalProtocolError("http.response.zerocopysend offset/count must be ints >= 0")
    return file, offset, count, bool(message.get("more_body", False)), advance
