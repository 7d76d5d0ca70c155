"""The staged close of RFC 9112 §9.6 (nginx calls it the lingering close).

Closing a socket whose receive buffer holds unread bytes makes the kernel send a reset,
and a reset destroys what the peer has not read yet: the last responses of a pipeline
cut at the per-connection limit, a 503 to a client that sent its request first, a 413
to one still uploading. So, once the last response is written, the server closes in
stages: it half-closes its sending side (``write_eof``: a FIN after the buffered bytes),
keeps reading and discarding what the peer still sends, and closes when the peer's EOF
comes (it has read everything up to our FIN) or when a bound is reached.

The bounds, and why (nginx's ``lingering_time`` and ``lingering_timeout``):

- ``LINGER_QUIET`` (5 s, nginx's lingering_timeout): with nothing received for that
  long the peer has stopped sending, so closing sends no reset over unread input.
- ``LINGER_TIME`` (30 s, nginx's lingering_time): the longest a peer that keeps sending
  holds the socket, counted from when the last response has left our buffer (before
  that the connection is still answering, and how slowly the peer reads is the send
  deadline's concern, not this one's).
- ``LINGER_QUIET_AT_SHUTDOWN`` (1 s): the quiet bound once the server is shutting down,
  which waits for the staged closes (within its grace period): a client that has its
  response and neither reads on nor closes should not hold a shutdown for 5 s.
- ``LINGER_BYTES`` (16 MiB): the most discarded, so that a peer sending as fast as it can
  costs a bounded amount of work; more than the 30,000 pipelined requests of the audit
  that found the lost responses (issue 17).

A lingering connection holds no buffer of ours (what arrives is dropped at once), is not
one of the server's active connections (``--max-connections`` does not count it) and
never starts a request. At most ``max_connections`` linger at a time, or
``LINGER_MIN_LIMIT`` (1024) if that is more (``LingeringCloses``): past that a connection
is closed at once, as before, so that a flood of connections answered 503 holds at most
that many sockets more than the allowed ones, each for a bounded time, and a server with
a small ``max_connections`` still answers a burst of clients past it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

__all__ = [
    "LINGER_BYTES",
    "LINGER_MIN_LIMIT",
    "LINGER_QUIET",
    "LINGER_QUIET_AT_SHUTDOWN",
    "LINGER_TIME",
    "LingeringClose",
    "LingeringCloses",
]

LINGER_QUIET: Final = 5.0
LINGER_QUIET_AT_SHUTDOWN: Final = 1.0
LINGER_TIME: Final = 30.0
LINGER_BYTES: Final = 16 * 1024 * 1024
LINGER_MIN_LIMIT: Final = 1024


class LingeringCloses:
    """The connections of one server that are closing in stages (at most ``limit``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.loop = loop
        self.limit = limit
        self.closing: set[LingeringClose] = set()
        self.quiet = LINGER_QUIET
        self.time = LINGER_TIME
        self.bytes = LINGER_BYTES
        self._emptied: asyncio.Future[None] | None = None

    def close(self, transport: asyncio.Transport) -> None:
        """Close ``transport``, whose protocol has written its last bytes: in stages where
        the transport can half-close and fewer than ``limit`` linger, else at once."""
        if (
            len(self.closing) >= self.limit
            or transport.is_closing()
            or not transport.can_write_eof()  # TLS: no half-close (TLS 1.3 has none)
        ):
            transport.close()
            return
        lingering = LingeringClose(self, transport)
        self.closing.add(lingering)
        lingering.start()

    def check_deadlines(self, now: float) -> None:
        """Called by the server's ticker: close those past their bounds."""
        for lingering in list(self.closing):
            lingering.check_deadline(now)

    def ended(self, lingering: LingeringClose) -> None:
        self.closing.discard(lingering)
        if not self.closing and self._emptied is not None:
            if not self._emptied.done():
                self._emptied.set_result(None)
            self._emptied = None

    async def wait_empty(self, until: float) -> None:
        """At shutdown: wait until none lingers (their quiet bound shortened), at the
        latest until ``until`` (the loop's clock); then abort those left and let their
        ``connection_lost`` run, so that no socket outlives the server."""
        self.quiet = min(self.quiet, LINGER_QUIET_AT_SHUTDOWN)
        if self.closing:
            self._emptied = self.loop.create_future()
            with contextlib.suppress(TimeoutError):
                wait = max(until - self.loop.time(), 0.0)
                await asyncio.wait_for(asyncio.shield(self._emptied), wait)
        if self.closing:
            for lingering in list(self.closing):
                lingering.transport.abort()
            await asyncio.sleep(0)  # connection_lost runs, and closes the sockets


class LingeringClose(asyncio.Protocol):
    """Takes over a connection whose last response is written (``transport.set_protocol``):
    half-closes it, reads and discards until the peer's EOF or a bound, then closes."""

    __slots__ = ("discarded", "last_data", "owner", "started", "transport")

    def __init__(self, owner: LingeringCloses, transport: asyncio.Transport) -> None:
        self.owner = owner
        self.transport = transport
        self.discarded = 0
        self.started = self.last_data = owner.loop.time()

    def start(self) -> None:
        self.transport.set_protocol(self)
        # In the loop's next turn, as transport.close() would: what the closing call
        # does after it (a log line) still comes before the client sees the end.
        self.owner.loop.call_soon(self._half_close)

    def _half_close(self) -> None:
        transport = self.transport
        if not transport.is_closing():
            transport.write_eof()  # after what is buffered: asyncio and uvloop flush first
            transport.resume_reading()  # reading may have been paused (flow control)

    def data_received(self, data: bytes) -> None:
        self.discarded += len(data)
        if self.discarded > self.owner.bytes:
            self.transport.abort()
        else:
            self.last_data = self.owner.loop.time()

    def eof_received(self) -> bool:
        return False  # the peer has read up to our FIN: the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.ended(self)

    def check_deadline(self, now: float) -> None:
        transport = self.transport
        if transport.get_write_buffer_size():
            # Still answering: the bounds count from when the last byte left our buffer.
            self.started = self.last_data = now
        elif now - self.last_data >= self.owner.quiet or now - self.started >= self.owner.time:
            transport.abort()
