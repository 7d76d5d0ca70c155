"""Writing a file's bytes to a connection: zero-copy where the socket allows it, else in
bounded pieces that wait for the client. The protocol's ``sendfile`` delegates here.

``os.sendfile`` moves the bytes from the page cache to the transport's socket itself,
whenever the transport has nothing buffered (so bytes leave in order), on either loop.
uvloop has no ``loop.sendfile``; asyncio's pauses and resumes reading around every call
and waits on futures of its own, and was about a third slower for a 1 MiB file. When the
socket is full (``BlockingIOError``), one ``pread`` piece goes through the transport
instead: the transport then waits for the socket to be writable, as it always does, and
we wait until it has written everything before ``os.sendfile`` takes over again. At most
one piece (64 KiB) is held in memory, whatever the reader's speed. Where no plain socket
can be reached (TLS, whose bytes must be encrypted; a test's fake transport), every piece
goes through the transport.

A socket that is seldom full (a fast reader on the same host, such as a reverse proxy)
would let one big file hold the event loop for as long as the socket keeps taking it:
after 2 MiB (``SENDFILE_TURN``) the loop runs the other connections before this one goes
on. With curl fetching a 2 GiB file over loopback, small requests on another connection
took a p99 of 0.5 ms instead of 1.2 ms, at the same download speed.
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import os
import socket
from typing import IO, TYPE_CHECKING, Final

from .._errors import LocalProtocolError

if TYPE_CHECKING:
    from ._protocol import HTTPProtocol

__all__ = ["SENDFILE_TURN", "send_file"]

_PIECE = 65536  # bytes read per write through the transport
# The most one connection sends in one turn of the event loop before the other
# connections get theirs (as nginx's sendfile_max_chunk, 2 MiB by default).
SENDFILE_TURN = 2 << 20
# os.sendfile's errors for a file (or socket) it can't work with: write pieces instead.
_NO_SENDFILE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK})
_TCP_CORK: int | None = getattr(socket, "TCP_CORK", None)  # Linux only
_TCP_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})
_CORK_UNKNOWN: Final = -1  # HTTPProtocol._cork_fd before the first file response
_CORK_NEVER: Final = -2  # ... for a socket that can't be corked
# What _cork calls, bound once: compiled code reads these directly, where
# `_socket.socket` looks the name up in the module on every call.
_BARE_SOCKET: Final = _socket.socket
_AF_INET: Final = _socket.AF_INET
_SOCK_STREAM: Final = _socket.SOCK_STREAM
_IPPROTO_TCP: Final = _socket.IPPROTO_TCP


async def send_file(protocol: HTTPProtocol, file: IO[bytes], offset: int, count: int) -> None:
    """Write ``count`` bytes of ``file`` from ``offset`` to ``protocol``'s transport:
    zero-copy where the socket can be reached (``os.sendfile``), else in 64 KiB pieces
    that wait for the client. The file's position is not used nor moved.

    Raises LocalProtocolError if the file ends before ``offset + count``. If the client
    goes away meanwhile, returns once the connection is lost (``protocol.lost``).
    """
    fd = file.fileno()
    transport = protocol.transport
    socket_fd = _plain_socket_fd(transport)
    if socket_fd is None:
        await _send_pieces(protocol, fd, offset, count)
        return
    turn = 0  # bytes sent since the event loop last ran the other connections
    while count and not protocol.lost:
        if transport.is_closing():
            await protocol.drain()  # returns once the connection is lost
            return
        if transport.get_write_buffer_size():
            await _flushed(protocol)  # our bytes must follow what it holds
            turn = 0
            continue
        if turn >= SENDFILE_TURN:
            await asyncio.sleep(0)  # the others' turn: the socket is not full, but fair
            turn = 0
            continue
        try:
            sent = os.sendfile(socket_fd, fd, offset, min(count, SENDFILE_TURN - turn))
        except BlockingIOError:  # the socket is full: the transport waits for it
            sent = _write_piece(protocol, fd, offset, count)
        except ConnectionError:
            _client_gone(protocol)
            continue
        except OSError as exc:
            if exc.errno not in _NO_SENDFILE:
                raise
            await _send_pieces(protocol, fd, offset, count)  # a file sendfile can't read
            return
        if not sent:
            raise LocalProtocolError("the file is shorter than the range to send")
        offset += sent
        count -= sent
        turn += sent


def _client_gone(protocol: HTTPProtocol) -> None:
    """``sendfile`` met EPIPE or ECONNRESET: the client is gone, and the transport,
    which saw no error itself, doesn't know. Abort it, so the connection is lost now and
    the request's cycle learns of it (the app's ``send`` raises ClientDisconnected)."""
    protocol.transport.abort()


def _plain_socket_fd(transport: asyncio.Transport) -> int | None:
    """The socket's descriptor if bytes may be written to it behind the transport's back:
    never under TLS (the bytes must be encrypted), nor without a socket."""
    if transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    fileno: int = sock.fileno()
    return fileno if fileno >= 0 else None


def _write_piece(protocol: HTTPProtocol, fd: int, offset: int, count: int) -> int:
    """Read up to one piece at ``offset`` and hand it to the transport; its length."""
    data = os.pread(fd, min(count, _PIECE), offset)
    if not data:
        raise LocalProtocolError("the file is shorter than the range to send")
    if not protocol.transport.is_closing():
        protocol.transport.write(data)
    return len(data)


async def _flushed(protocol: HTTPProtocol) -> None:
    """Wait until the transport has written all it holds, or the connection is lost.

    The transport's low-water mark is set to 0 meanwhile, so its own flow control (pause
    and resume writing) tells us when it is empty; its limits are restored after.
    """
    transport = protocol.transport
    low, high = transport.get_write_buffer_limits()
    transport.set_write_buffer_limits(high=0, low=0)
    try:
        await protocol.drain()
    finally:
        if not transport.is_closing():
            transport.set_write_buffer_limits(high=high, low=low)


async def _send_pieces(protocol: HTTPProtocol, fd: int, offset: int, count: int) -> None:
    """Every byte through the transport, one piece at a time, waiting for the client."""
    while count and not protocol.lost:
        sent = _write_piece(protocol, fd, offset, count)
        offset += sent
        count -= sent
        if protocol.write_paused:
            await protocol.drain()


def _corkable_fd(transport: asyncio.Transport) -> int:
    """The descriptor of the transport's TCP socket, if it can be corked (Linux; not
    under TLS, whose layer writes records of its own); else _CORK_NEVER."""
    if _TCP_CORK is None or transport.get_extra_info("sslcontext") is not None:
        return _CORK_NEVER
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in _TCP_FAMILIES:
        return _CORK_NEVER
    fd: int = sock.fileno()
    return fd if fd >= 0 else _CORK_NEVER
