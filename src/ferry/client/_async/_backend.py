"""The asyncio network layer of the async client (hand-written; the blocking client's
``_sync/_backend.py`` offers the same names over plain sockets).

A stream is the client's whole seam to the network: ``read``, ``write``, ``close``,
``is_readable``. Every OSError is turned into the client's exceptions here, at the edge.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Any, cast

from ..._errors import ConnectError, ConnectTimeout, NetworkError, ReadTimeout, WriteTimeout
from .._tls import describe_handshake

__all__ = ["AsyncStream", "PoolCondition", "connect"]

_HIGH_WATER = 256 * 1024  # buffered response bytes past which the socket stops being read
_RECEIVE_SIZE = 65536  # bytes one read of the socket may take (as the blocking client's)
Trace = Callable[[str, bytes], None]
"""Called with each step of an exchange as it ends, and the bytes it concerns (the
request and response heads, and for ``tls`` the handshake's ``describe_handshake``);
docs/client.md lists the steps."""


class _Protocol(asyncio.BufferedProtocol):
    """Buffers what arrives and wakes one reader; pauses reading past the high water.

    A BufferedProtocol: the socket is read into one buffer of the connection's. A plain
    Protocol gets a new bytes object of asyncio's read size (256 KiB) per read, which
    malloc takes from mmap: three system calls (mmap, mremap, munmap) and a page fault
    per response, for a response of a few hundred bytes."""

    def __init__(self) -> None:
        self._receive_buffer = memoryview(bytearray(_RECEIVE_SIZE))
        self.transport: asyncio.Transport | None = None
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[object] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.paused = False
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._receive_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.buffer.append(self._receive_buffer[:nbytes].tobytes())
        self.buffered += nbytes
        if self.buffered > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport: a client has nothing to send after EOF

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self.eof = True
        self.error = exc
        self._wake()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.drained = None

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


_EXPIRED = object()
_NEVER = float("inf")


class AsyncStream:
    """A connected byte stream. Not safe for two readers (or writers) at once."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._loop = asyncio.get_running_loop()
        # The read timeout: one timer per stream, moved lazily (see _arm).
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None

    async def read(self, time_limit: float | None) -> bytes:
        """The bytes received so far (waiting for some); b"" once the peer closed.
        Raises ReadTimeout, NetworkError."""
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            # Wait for bytes or the EOF (inline: a coroutine less on every response).
            waiter = protocol.waiter = self._loop.create_future()
            if time_limit is None:
                self._deadline = _NEVER
            else:
                self._arm(time_limit)
            try:
                await waiter
            finally:
                protocol.waiter = None
            if waiter.result() is _EXPIRED:
                raise ReadTimeout(f"no response bytes within {time_limit} s")
        if protocol.buffer:
            data = b"".join(protocol.buffer) if len(protocol.buffer) > 1 else protocol.buffer[0]
            protocol.buffer.clear()
            protocol.buffered = 0
            if protocol.paused:
                protocol.paused = False
                self._transport.resume_reading()
            return data
        if isinstance(protocol.error, OSError):
            raise NetworkError(f"connection lost: {protocol.error}") from protocol.error
        return b""

    def _arm(self, time_limit: float) -> None:
        """Set the read deadline ``time_limit`` s from now. The timer is not made and
        cancelled for each wait, which would cost a heap push and pop each time (this
        wait is on the path of every response): a wait only moves the deadline later,
        and the timer, when it fires before the deadline, sets itself again for it."""
        self._deadline = deadline = self._loop.time() + time_limit
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline, self._check_deadline, deadline)

    def _check_deadline(self, armed_for: float) -> None:
        self._timer = None
        waiter = self._protocol.waiter
        if waiter is None or waiter.done():
            return  # no read waits: the next one sets a timer again
        if armed_for >= self._deadline:
            waiter.set_result(_EXPIRED)
        elif self._deadline != _NEVER:  # the deadline moved on: follow it
            self._timer = self._loop.call_at(self._deadline, self._check_deadline, self._deadline)

    async def write(self, data: bytes, time_limit: float | None) -> None:
        """Send ``data`` (waiting while the send buffer is full). Raises WriteTimeout,
        NetworkError."""
        if self._transport.is_closing():
            raise NetworkError("the connection is closed")
        self._transport.write(data)
        drained = self._protocol.drained
        if drained is not None:
            try:
                async with asyncio.timeout(time_limit):
                    await asyncio.shield(drained)
            except TimeoutError:
                raise WriteTimeout(f"request not sent within {time_limit} s") from None
        if self._protocol.error is not None:
            raise NetworkError(f"connection lost: {self._protocol.error}")

    def close(self) -> None:
        """Close the connection at once (unsent bytes are dropped)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.abort()

    async def wait_closed(self) -> None:
        """Wait until a ``close()`` took effect: asyncio closes the socket in a callback,
        which a loop closed right after would never run."""
        await asyncio.shield(self._protocol.lost)

    def is_readable(self) -> bool:
        """Whether bytes or an EOF arrived: on an idle connection, a sign it is dead."""
        return bool(self._protocol.buffer) or self._protocol.eof

    async def poll_readable(self) -> bool:
        """``is_readable`` once the event loop has taken in what the socket holds: for a
        sender that has not waited on the loop for a while. A write that fails (the peer
        reset) makes asyncio close the transport unread: bytes the peer sent before its
        reset (a 413) are lost unless read before that write."""
        await asyncio.sleep(0)
        return self.is_readable()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, host: str, time_limit: float | None
    ) -> None:
        """Handshake TLS over this stream (a proxy's tunnel), naming ``host``; nothing
        may have been read past the tunnel's response. Raises ConnectTimeout,
        ConnectError."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(time_limit):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=host
                )
        except TimeoutError:
            raise ConnectTimeout(f"no TLS with {host} within {time_limit} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(f"cannot start TLS with {host}: {exc}") from exc
        assert transport is not None  # None only for a closed loop's transport
        self._transport = transport

    def handshake(self) -> bytes:
        """The TLS handshake's version, cipher and ALPN protocol (``describe_handshake``);
        for a stream connected with TLS, or after ``start_tls``."""
        ssl_object = self._transport.get_extra_info("ssl_object")
        assert ssl_object is not None
        return describe_handshake(ssl_object)


async def connect(
    host: str,
    port: int,
    *,
    time_limit: float | None,
    ssl_context: ssl.SSLContext | None,
    uds: str | None = None,
    trace: Trace | None = None,
) -> AsyncStream:
    """Resolve, connect and (with ``ssl_context``) handshake, all within ``time_limit``.
    ``uds``: connect to this UNIX socket instead (the host still names the TLS peer).
    Raises ConnectTimeout, ConnectError."""
    try:
        async with asyncio.timeout(time_limit):
            sock = await _open_socket(host, port, uds, trace)
            try:
                return await _start_stream(sock, host, ssl_context, trace)
            except BaseException:
                sock.close()
                raise
    except TimeoutError:
        raise ConnectTimeout(f"no connection to {host}:{port} within {time_limit} s") from None
    except (OSError, ssl.SSLError) as exc:  # gaierror, refused, certificate errors
        raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc


async def _open_socket(host: str, port: int, uds: str | None, trace: Trace | None) -> socket.socket:
    loop = asyncio.get_running_loop()
    addresses: list[tuple[int, Any]]
    if uds is not None:
        addresses = [(socket.AF_UNIX, uds)]
    else:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [(family, address) for family, _, _, _, address in infos]
    if trace is not None:
        trace("dns", b"")
    error: OSError | None = None
    for family, address in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        if family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if trace is not None:
            trace("connect", b"")
        return sock
    raise error or OSError(f"no address for {host}")


async def _start_stream(
    sock: socket.socket, host: str, ssl_context: ssl.SSLContext | None, trace: Trace | None
) -> AsyncStream:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_connection(
        _Protocol, sock=sock, ssl=ssl_context, server_hostname=host if ssl_context else None
    )
    stream = AsyncStream(transport, protocol)
    if ssl_context is not None and trace is not None:
        trace("tls", stream.handshake())
    return stream


class PoolCondition:
    """The pool's lock and wake-up call. On one event loop, code between two awaits runs
    alone, and the pool awaits nothing while it holds the condition but ``wait`` (which
    lets go of it, as a condition's wait does): so there is no lock to take, only
    waiters to wake. Taking an asyncio.Lock twice per request would cost more; so would
    an ``async with`` (two coroutines each time): the pool holds it with a plain
    ``with``, as the blocking client's pool holds its threading.Condition."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc_info: object) -> None:
        pass

    async def wait(self, time_limit: float | None) -> bool:
        """Wait for ``notify_all``; False when ``time_limit`` passed."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(time_limit):
                await waiter
        except TimeoutError:
            return False
        finally:
            if waiter in self._waiters:  # timed out or cancelled: not notified
                self._waiters.remove(waiter)
        return True

    def notify_all(self) -> None:
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()
