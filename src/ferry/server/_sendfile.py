"""Writing a file's bytes to a connection: zero-copy where the loop can, else in bounded
pieces that wait for the client. The protocol's ``sendfile`` delegates here."""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING

from .._errors import LocalProtocolError

if TYPE_CHECKING:
    from ._protocol import HTTPProtocol

__all__ = ["send_file"]

_PIECE = 65536  # bytes read per write where the file cannot go zero-copy


async def send_file(protocol: HTTPProtocol, file: IO[bytes], offset: int, count: int) -> None:
    """Write ``count`` bytes of ``file`` from ``offset`` to ``protocol``'s transport:
    zero-copy where the loop can (asyncio's ``loop.sendfile``), else in pieces of 64 KiB
    that wait for the client (uvloop). The file's position is left as it was."""
    state = protocol.state
    if state.native_sendfile:
        position = file.tell()
        try:
            await state.loop.sendfile(protocol.transport, file, offset, count)
            return
        except NotImplementedError:
            state.native_sendfile = False
        finally:
            file.seek(position)  # as with pread below: the caller decides the position
    fd = file.fileno()
    while count and not protocol.lost:
        data = os.pread(fd, min(count, _PIECE), offset)
        if not data:
            raise LocalProtocolError("the file is shorter than the range to send")
        protocol.transport.write(data)
        offset += len(data)
        count -= len(data)
        if protocol.write_paused:
            await protocol.drain()
