"""Minimum data rates, both ways, as Kestrel defines them (its ``MinRequestBodyDataRate``
and ``MinResponseDataRate``: 240 bytes/s after a 5 s grace period). Sans-IO: the
protocol gives the loop's clock and the byte counts; nothing here reads a clock, a
socket or a transport.

Both rates count only time the server spends waiting on the peer, never time spent
waiting on the application:

- ``BodyRate``, for a request body: time counts while the application waits for the
  body and reading is not paused (``HTTPProtocol`` starts it where it sets the body
  deadline: once the app has asked for the body, so after any ``100 Continue``, and
  again when the app has taken what was queued; it stops it when reading is paused
  because the app has not taken what came, and at the body's end). The rate is the
  body bytes received over that time, averaged since the app asked; it is judged once
  more than the grace period has been counted. Below the minimum: 408.
- ``SendTimer``, for a response: time counts while the transport holds more than it
  will take (``pause_writing`` to ``resume_writing``). That is where every byte for the
  peer waits, whatever wrote it: a response body, a file sent with ``os.sendfile``
  (whose pieces go through the transport when the socket is full, see ``_sendfile``),
  and, once TLS exists, the TLS transport's records: they all plug in at the
  transport's flow control. As Kestrel does, the rate is enforced per wait, not
  averaged over the response: the bytes held when writing paused must leave within
  the grace period or the time they take at the minimum rate, whichever is longer
  (``write_deadline``). Past it: the connection is aborted.

Kestrel judges a write per write because what leaves the process for the socket does
so in lumps: the kernel wakes a writer only once a third of its send buffer is free,
and on loopback that buffer grows to megabytes. An average measured at the transport
would see nothing leave for seconds from a client reading well above the minimum.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BodyRate", "MinRate", "SendTimer", "write_deadline"]

_STOPPED: Final = -1.0  # BodyRate.since while time is not being counted


class MinRate:
    """A minimum rate in bytes per second, judged after a grace period in seconds.
    A ``bytes_per_second`` of 0 turns the rate off (``enabled``)."""

    __slots__ = ("bytes_per_second", "grace")

    def __init__(self, bytes_per_second: float, grace: float) -> None:
        self.bytes_per_second = bytes_per_second
        self.grace = grace

    @property
    def enabled(self) -> bool:
        return self.bytes_per_second > 0


class BodyRate:
    """The rate of one request body, over the time the server waited on the client.

    Call order: ``start`` and ``stop`` any number of times, ``received`` for the body
    bytes that arrive while it exists, ``too_slow`` from the ticker."""

    __slots__ = ("minimum", "received_bytes", "since", "waited")

    def __init__(self, minimum: MinRate) -> None:
        self.minimum = minimum
        self.received_bytes = 0
        self.waited = 0.0  # seconds counted before the current stretch
        self.since = _STOPPED  # when the current stretch began

    def start(self, now: float) -> None:
        """The server waits on the client from ``now`` on (no-op if it already does)."""
        if self.since == _STOPPED:
            self.since = now

    def stop(self, now: float) -> None:
        """The server no longer waits on the client (no-op if it did not)."""
        if self.since != _STOPPED:
            self.waited += now - self.since
            self.since = _STOPPED

    def received(self, size: int) -> None:
        self.received_bytes += size

    def waited_at(self, now: float) -> float:
        """Seconds counted so far, at ``now``."""
        running = now - self.since if self.since != _STOPPED else 0.0
        return self.waited + running

    def too_slow(self, now: float) -> bool:
        """Whether, past the grace period, the body has come slower than the minimum."""
        waited = self.waited_at(now)
        minimum = self.minimum
        return waited > minimum.grace and self.received_bytes < minimum.bytes_per_second * waited


def write_deadline(now: float, held: int, previous: float, minimum: MinRate) -> float:
    """When ``held`` bytes, waiting for the peer from ``now`` on, must have left
    (Kestrel's per-write rule): after the grace period or the time they take at the
    minimum rate, whichever is longer. ``previous`` is the deadline of the wait before
    (0.0 for none): a wait that follows one not yet due adds its time to it, with no
    second grace period, so that many small waits in a row get no grace each."""
    at_rate = held / minimum.bytes_per_second
    return max(now + max(minimum.grace, at_rate), previous + at_rate)


class SendTimer:
    """The waits of one connection's writes for its peer (``write_deadline``)."""

    __slots__ = ("deadline", "held", "minimum", "previous", "since")

    def __init__(self, minimum: MinRate) -> None:
        self.minimum = minimum
        self.deadline = 0.0  # 0.0: the server is not waiting on the peer
        self.previous = 0.0  # the last wait's deadline
        self.held = 0  # bytes held when the current wait began
        self.since = 0.0  # when it began

    def start(self, now: float, held: int) -> None:
        """Writing paused at ``now`` with ``held`` bytes waiting for the peer."""
        if not self.deadline:
            self.deadline = self.previous = write_deadline(now, held, self.previous, self.minimum)
            self.held = held
            self.since = now

    def stop(self) -> None:
        """Writing resumed: the peer took what was waiting."""
        self.deadline = 0.0

    def expired(self, now: float) -> bool:
        """Whether the current wait is past its deadline."""
        deadline = self.deadline
        return bool(deadline) and now >= deadline

    def describe(self, now: float, held: int) -> str:
        """What the peer took of the current wait, in words for the log, given the
        ``held`` bytes still waiting at ``now``."""
        taken = max(0, self.held - held)
        waited = now - self.since
        rate = taken / waited if waited > 0 else 0.0
        return (
            f"took {taken} of {self.held} bytes in {waited:.1f} s ({rate:.0f} bytes/s; "
            f"minimum {self.minimum.bytes_per_second:.15g} bytes/s after "
            f"{self.minimum.grace:.15g} s)"
        )
