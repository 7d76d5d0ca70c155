"""File sending, in one home: writing a file's bytes to a connection, zero-copy where the
socket allows it, else in bounded pieces that wait for the client; the socket's cork
around a file response; and the one decision both depend on (``socket_access``):
whether bytes may be written to the socket behind the transport's back.

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

Every ``os.sendfile`` call is in one loop (``_Transfer.run``), which never waits: it
sends what the socket takes and says why it stopped. ``send_file`` waits for what it
asks (the transport to empty, the loop to run the others, the client) and runs it
again; a file answered at once from ``data_received`` (``FileSender.start_whole``) runs
it once, and a task goes on from where it stopped.

A socket that is seldom full (a fast reader on the same host, such as a reverse proxy)
would let one big file hold the event loop for as long as the socket keeps taking it:
after 2 MiB (``SENDFILE_TURN``) the loop runs the other connections before this one goes
on. With curl fetching a 2 GiB file over loopback, small requests on another connection
took a p99 of 0.5 ms instead of 1.2 ms, at the same download speed.
"""

from __future__ import annotations

import _socket
import asyncio
import contextlib
import errno
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from typing import IO, TYPE_CHECKING, Any, Final, Protocol

from .._errors import LocalProtocolError

if TYPE_CHECKING:
    from ..asgi._cycle import RequestCycle

__all__ = ["SENDFILE_TURN", "FileChannel", "FileSender", "FileWriter", "send_file", "socket_access"]

logger = logging.getLogger("ferry.error")

_PIECE = 65536  # bytes read per write through the transport
# The most one connection sends in one turn of the event loop before the other
# connections get theirs (as nginx's sendfile_max_chunk, 2 MiB by default).
SENDFILE_TURN: Final = 2 << 20
# os.sendfile's errors for a file (or socket) it can't work with: write pieces instead.
_NO_SENDFILE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK})
_TCP_CORK: int | None = getattr(socket, "TCP_CORK", None)  # Linux only
_TCP_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})
_NO_SOCKET: Final = -1  # socket_access's descriptor where none may be written to
# What cork() calls, bound once: compiled code reads these directly, where
# `_socket.socket` looks the name up in the module on every call.
_BARE_SOCKET: Final = _socket.socket
_AF_INET: Final = _socket.AF_INET
_SOCK_STREAM: Final = _socket.SOCK_STREAM
_IPPROTO_TCP: Final = _socket.IPPROTO_TCP

# Why _Transfer.run stopped (what the caller must wait for before running it again).
_DONE: Final = 0  # every byte is sent, or the connection is lost
_CLOSING: Final = 1  # the transport is closing: wait until the connection is lost
_BUFFERED: Final = 2  # the transport holds bytes, which must leave first
_TURN_OVER: Final = 3  # one turn's worth sent: the other connections go first
_PIECES: Final = 4  # os.sendfile can't read this file: the rest goes in pieces


class FileChannel(Protocol):
    """What file sending needs from the connection (the server's protocol)."""

    transport: asyncio.Transport

    @property
    def lost(self) -> bool:
        """Whether the connection is gone (its connection_lost has run)."""

    @property
    def write_paused(self) -> bool:
        """Whether the transport holds more than its high-water mark."""

    async def drain(self) -> None:
        """Wait until the transport is below its low-water mark, or the connection is
        lost."""


class FileWriter(FileChannel, Protocol):
    """What a ``FileSender`` needs besides: writing a response head, in order, and
    ending (or failing) a response the sender answers with a whole file."""

    def write(self, data: bytes) -> None:
        """Write ``data`` after whatever was written before."""

    def flush(self) -> None:
        """Hand whatever is held back to the transport now."""

    def end_file(self, cycle: RequestCycle, size: int) -> None:
        """The whole file of ``send_whole`` (``size`` bytes) is out: end the response."""

    def app_failed(self, cycle: RequestCycle, message: str) -> None:
        """The response can't be completed (the file was shorter than said)."""


Spawn = Callable[[Coroutine[Any, Any, None], Callable[[], None], str], None]
"""Runs a coroutine in a task the server's shutdown waits for; the callable is called if
the task fails, which is logged as an error doing what the string says
(``ServerState.spawn``)."""


def socket_access(transport: asyncio.Transport) -> tuple[int, bool]:
    """The one decision of how a file's bytes reach the transport's socket: (the
    socket's descriptor, or -1 where every byte must go through the transport; whether
    the socket can be corked).

    - under TLS: -1, the bytes must be encrypted (and TLS writes records of its own);
    - no socket (a test's fake transport): -1;
    - TCP on Linux: the descriptor, corkable (TCP_CORK);
    - any other socket (UNIX): the descriptor, not corkable.
    """
    if transport.get_extra_info("sslcontext") is not None:
        return _NO_SOCKET, False
    sock = transport.get_extra_info("socket")
    if sock is None:
        return _NO_SOCKET, False
    fd: int = sock.fileno()
    if fd < 0:
        return _NO_SOCKET, False
    return fd, _TCP_CORK is not None and sock.family in _TCP_FAMILIES


class FileSender:
    """The file responses of one connection: its socket as ``socket_access`` found it
    (once, at the connection's first file), the cork, and the bytes sent at once."""

    __slots__ = ("_channel", "_cork_fd", "_socket_fd", "_spawn")

    def __init__(self, channel: FileWriter, spawn: Spawn) -> None:
        self._channel = channel
        self._spawn = spawn
        fd, corkable = socket_access(channel.transport)
        self._socket_fd = fd
        self._cork_fd = fd if corkable else _NO_SOCKET

    def cork(self, on: int) -> bool:
        """Set TCP_CORK on the socket (1) or take it off (0); False where the socket
        can't be corked (not TCP, TLS, not Linux) or is gone.

        Corked (what nginx's ``tcp_nopush`` does), the head waits for the file's first
        bytes and every segment leaves full. Uncorked, the head left alone in a small
        segment and the file's bytes were then sent from the client's ACKs, on the
        client's CPU: a 1 MiB file went out at about two thirds of the rate. Each call
        wraps the descriptor in a bare ``_socket.socket`` and lets go of it after
        (uvloop's socket stand-in makes a ``socket.socket`` per call, and asks the kernel
        for its address twice; the bare constructor still checks the descriptor with one
        ``getsockname``)."""
        fd = self._cork_fd
        option = _TCP_CORK
        channel = self._channel
        if fd < 0 or option is None or channel.lost or channel.transport.is_closing():
            return False  # (a closing transport's descriptor may be closed, and reused)
        sock = _BARE_SOCKET(_AF_INET, _SOCK_STREAM, _IPPROTO_TCP, fd)
        try:
            sock.setsockopt(_IPPROTO_TCP, option, on)
        except OSError:  # the peer may have reset meanwhile: send_file will find out
            return False
        finally:
            sock.detach()  # the transport owns the descriptor
        return True

    def send_whole(self, cycle: RequestCycle, fd: int, size: int, head: bytes) -> None:
        """Write ``head``, then the whole file ``fd`` (``size`` bytes, ours to close) as
        ``cycle``'s response, then end it (``channel.end_file``).

        Without a task while the socket takes the file at once (``start_whole``).
        Whatever else happens (the rest of a bigger file, the socket full, an error, a
        file that shrank) goes on in a task, from where this stopped.
        """
        sent = self.start_whole(fd, size, head)
        if sent == size:
            os.close(fd)
            self._channel.end_file(cycle, size)
            return
        file = open(fd, "rb", buffering=0)  # noqa: SIM115 - _send_rest closes it
        abort = self._channel.transport.abort
        self._spawn(self._send_rest(cycle, file, sent, size), abort, "sending a file")

    async def _send_rest(
        self, cycle: RequestCycle, file: IO[bytes], offset: int, size: int
    ) -> None:
        """The rest of ``send_whole``'s file, from ``offset`` on."""
        channel = self._channel
        try:
            with file:
                await self.send(file, offset, size - offset, b"")
            if not cycle.disconnected:
                channel.end_file(cycle, size)
        except LocalProtocolError as exc:  # the file shrank: the response can't be fixed
            logger.error("invalid response from the application: %s", exc)
            channel.app_failed(cycle, "invalid response from the application")

    def start_whole(self, fd: int, size: int, head: bytes) -> int:
        """Write ``head``, then the file ``fd`` (``size`` bytes) from its start, as far
        as the socket takes it now and at most one turn's worth (``SENDFILE_TURN``),
        without waiting; the bytes of the file sent. Once they are ``size``, the socket
        is uncorked; else ``send`` goes on from there.

        At once only where the head waits in the cork for the file's first bytes, and
        nothing is buffered before it. Anything unusual (the socket full, the client
        gone, a file that shrank or that os.sendfile can't read) stops it: ``send`` meets
        it again, and deals with it."""
        channel = self._channel
        corked = self.cork(1)
        channel.write(head)
        channel.flush()
        sent = 0
        if corked and not channel.transport.get_write_buffer_size():
            transfer = _Transfer(channel, self._socket_fd, fd, 0, size)
            with contextlib.suppress(OSError, LocalProtocolError):
                transfer.run()
            sent = transfer.offset
        if sent == size:
            self.cork(0)
        return sent

    async def send(self, file: IO[bytes], offset: int, count: int, head: bytes) -> None:
        """Write ``head``, then ``count`` bytes of ``file`` from ``offset`` (as
        ``send_file``), the socket corked meanwhile."""
        channel = self._channel
        corked = self.cork(1)
        try:
            channel.write(head)
            channel.flush()
            await _send(channel, self._socket_fd, file.fileno(), offset, count)
        finally:
            if corked:
                self.cork(0)


async def send_file(channel: FileChannel, file: IO[bytes], offset: int, count: int) -> None:
    """Write ``count`` bytes of ``file`` from ``offset`` to ``channel``'s transport:
    zero-copy where the socket can be reached (``os.sendfile``), else in 64 KiB pieces
    that wait for the client. The file's position is not used nor moved.

    Raises LocalProtocolError if the file ends before ``offset + count``. If the client
    goes away meanwhile, returns once the connection is lost (``channel.lost``).
    """
    socket_fd = socket_access(channel.transport)[0]
    await _send(channel, socket_fd, file.fileno(), offset, count)


async def _send(channel: FileChannel, socket_fd: int, fd: int, offset: int, count: int) -> None:
    if socket_fd < 0:
        await _send_pieces(channel, fd, offset, count)
        return
    transfer = _Transfer(channel, socket_fd, fd, offset, count)
    while True:
        stop = transfer.run()
        if stop == _BUFFERED:
            await _flushed(channel)  # our bytes must follow what it holds
            transfer.turn = 0
        elif stop == _TURN_OVER:
            await asyncio.sleep(0)  # the others' turn: the socket is not full, but fair
            transfer.turn = 0
        elif stop == _CLOSING:
            await channel.drain()  # returns once the connection is lost
            return
        elif stop == _PIECES:  # a file sendfile can't read
            await _send_pieces(channel, fd, transfer.offset, transfer.count)
            return
        else:
            return


class _Transfer:
    """A range of a file on its way to a socket through ``os.sendfile``."""

    __slots__ = ("channel", "count", "fd", "offset", "socket_fd", "turn")

    def __init__(
        self, channel: FileChannel, socket_fd: int, fd: int, offset: int, count: int
    ) -> None:
        self.channel = channel
        self.socket_fd = socket_fd
        self.fd = fd
        self.offset = offset
        self.count = count
        self.turn = 0  # bytes sent since the event loop last ran the other connections

    def run(self) -> int:
        """Send what the socket takes now; why it stopped (_DONE, _CLOSING, _BUFFERED,
        _TURN_OVER, _PIECES). Raises LocalProtocolError for a file that ends early, and
        OSError for a failure other than the client's going."""
        channel = self.channel
        transport = channel.transport
        while self.count and not channel.lost:
            if transport.is_closing():
                return _CLOSING
            if transport.get_write_buffer_size():
                return _BUFFERED
            if self.turn >= SENDFILE_TURN:
                return _TURN_OVER
            try:
                sent = os.sendfile(
                    self.socket_fd, self.fd, self.offset, min(self.count, SENDFILE_TURN - self.turn)
                )
            except BlockingIOError:  # the socket is full: the transport waits for it
                sent = _write_piece(channel, self.fd, self.offset, self.count)
            except ConnectionError:
                _client_gone(channel)
                continue
            except OSError as exc:
                if exc.errno not in _NO_SENDFILE:
                    raise
                return _PIECES
            if not sent:
                raise LocalProtocolError("the file is shorter than the range to send")
            self.offset += sent
            self.count -= sent
            self.turn += sent
        return _DONE


def _client_gone(channel: FileChannel) -> None:
    """``sendfile`` met EPIPE or ECONNRESET: the client is gone, and the transport,
    which saw no error itself, doesn't know. Abort it, so the connection is lost now and
    the request's cycle learns of it (the app's ``send`` raises ClientDisconnected)."""
    channel.transport.abort()


def _write_piece(channel: FileChannel, fd: int, offset: int, count: int) -> int:
    """Read up to one piece at ``offset`` and hand it to the transport; its length."""
    data = os.pread(fd, min(count, _PIECE), offset)
    if not data:
        raise LocalProtocolError("the file is shorter than the range to send")
    if not channel.transport.is_closing():
        channel.transport.write(data)
    return len(data)


async def _flushed(channel: FileChannel) -> None:
    """Wait until the transport has written all it holds, or the connection is lost.

    The transport's low-water mark is set to 0 meanwhile, so its own flow control (pause
    and resume writing) tells us when it is empty; its limits are restored after.
    """
    transport = channel.transport
    low, high = transport.get_write_buffer_limits()
    transport.set_write_buffer_limits(high=0, low=0)
    try:
        await channel.drain()
    finally:
        if not transport.is_closing():
            transport.set_write_buffer_limits(high=high, low=low)


async def _send_pieces(channel: FileChannel, fd: int, offset: int, count: int) -> None:
    """Every byte through the transport, one piece at a time, waiting for the client."""
    while count and not channel.lost:
        sent = _write_piece(channel, fd, offset, count)
        offset += sent
        count -= sent
        if channel.write_paused:
            await channel.drain()
