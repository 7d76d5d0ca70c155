"""Idle expiry in the pool, with an injected clock (no sleeping), against a Ferry server
that says ``Keep-Alive: timeout=5`` (to requests that list keep-alive in Connection)."""

from __future__ import annotations

import pytest

from ferry.client import PoolLimits, Timeouts
from ferry.client._sync._connection import HTTPConnection
from ferry.client._sync._pool import ConnectionPool

from ..support import echo_app, serving

TIMEOUTS = Timeouts()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def exchange(pool: ConnectionPool, origin: tuple[str, str, int]) -> HTTPConnection:
    connection = pool.acquire(origin, TIMEOUTS)
    fields = [(b"Host", b"x"), (b"Connection", b"keep-alive")]
    connection.send_request(b"GET", b"/", fields, b"", None, TIMEOUTS, None)
    connection.receive_head(TIMEOUTS, None)
    while connection.receive_data(TIMEOUTS) is not None:
        pass
    pool.release(connection)
    return connection


@pytest.mark.parametrize(
    ("max_idle_time", "lifetime"),
    [
        (60.0, 4.0),  # the server's timeout=5, less a second
        (2.5, 2.5),  # our own limit is the shorter one
    ],
)
def test_idle_expiry(max_idle_time: float, lifetime: float) -> None:
    clock = Clock()
    with serving(echo_app, keep_alive_timeout=5) as server:
        origin = ("http", "127.0.0.1", server.port)
        pool = ConnectionPool(PoolLimits(max_idle_time=max_idle_time), None, clock=clock)
        first = exchange(pool, origin)
        clock.now += lifetime - 0.01
        assert exchange(pool, origin) is first  # still fresh: reused
        clock.now += lifetime
        second = exchange(pool, origin)
        assert second is not first  # expired: closed and replaced
        assert first.closed
        assert pool.open_connections == 1
        pool.close()
        assert second.closed
