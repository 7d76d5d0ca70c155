"""The connection pool: per-origin keep-alive reuse within limits.

Connections are opened on demand up to ``PoolLimits.max_connections`` in all and
``max_per_host`` per origin; a caller that finds the pool full waits up to
``Timeouts.pool`` for one to be released (PoolTimeout). An idle connection is retired
when it expires (``max_idle_time``, or one second before the server's ``Keep-Alive:
timeout=N``) or when it shows bytes or an EOF while idle (the server closed it).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable

from ..._errors import ClientClosed, PoolTimeout
from .._limits import StepTimeouts
from .._models import PoolLimits, keep_alive_timeout
from .._proxies import ProxyRoutes
from ._backend import PoolCondition, Trace
from ._connection import AsyncHTTPConnection

__all__ = ["AsyncConnectionPool"]

Origin = tuple[str, str, int]


class AsyncConnectionPool:
    """Open, reuse and retire connections (through the proxy ``proxies`` name for each
    origin). ``clock`` is injectable for tests."""

    def __init__(
        self,
        limits: PoolLimits,
        ssl_context: ssl.SSLContext | None,
        uds: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        proxies: ProxyRoutes | None = None,
    ) -> None:
        self.proxies = proxies or ProxyRoutes()
        """Which proxy, if any, each origin's connections go to."""
        self._limits = limits
        self._ssl_context = ssl_context
        self._uds = uds
        self._clock = clock
        self._condition = PoolCondition()
        self._idle: dict[Origin, list[AsyncHTTPConnection]] = {}
        self._open: dict[Origin, int] = {}  # open or being opened, per origin
        self._total = 0
        self._closed = False

    @property
    def open_connections(self) -> int:
        """Connections open (busy or idle) or being opened."""
        return self._total

    @property
    def idle_connections(self) -> int:
        return sum(len(idle) for idle in self._idle.values())

    async def acquire(
        self,
        origin: Origin,
        timeouts: StepTimeouts,
        trace: Trace | None = None,
        *,
        fresh: bool = False,
    ) -> AsyncHTTPConnection:
        """A live idle connection to ``origin``, else a new one once the limits allow.
        ``fresh``: a new one in any case (for a retry after a stale connection: the other
        idle ones are likely stale too), closing an idle one to ``origin`` if the limits
        ask for it. Raises PoolTimeout, ConnectError, ConnectTimeout, ClientClosed."""
        deadline = None if timeouts.pool is None else self._clock() + timeouts.pool
        with self._condition:
            while True:
                if self._closed:
                    raise ClientClosed("the connection pool is closed")
                connection = None if fresh else self._take_idle(origin)
                if connection is not None:
                    return connection
                if self._reserve(origin) or (fresh and self._make_room(origin)):
                    break
                left = None if deadline is None else deadline - self._clock()
                if (left is not None and left <= 0) or not await self._condition.wait(left):
                    raise PoolTimeout(f"no free connection within {timeouts.pool} s")
        try:
            return await AsyncHTTPConnection.open(
                origin,
                timeouts,
                self._ssl_context if origin[0] == "https" else None,
                self._uds,
                trace,
                self.proxies.proxy_for(origin),
            )
        except BaseException:
            with self._condition:
                self._unreserve(origin)
            raise

    def take_idle(self, origin: Origin) -> AsyncHTTPConnection | None:
        """``acquire`` without waiting: a live idle connection to ``origin``, or None."""
        with self._condition:
            return None if self._closed else self._take_idle(origin)

    def _take_idle(self, origin: Origin) -> AsyncHTTPConnection | None:
        idle = self._idle.get(origin)
        now = self._clock()
        while idle:
            connection = idle.pop()  # the most recently used: the likeliest to be alive
            if not connection.is_dead(now):
                return connection
            self._discard(connection)
        return None

    def _reserve(self, origin: Origin) -> bool:
        """Count a connection about to be opened, if the limits allow one (closing an idle
        connection to another origin when only the total limit is in the way)."""
        if self._open.get(origin, 0) >= self._limits.max_per_host:
            return False
        if self._total >= self._limits.max_connections and not self._evict_one():
            return False
        self._open[origin] = self._open.get(origin, 0) + 1
        self._total += 1
        return True

    def _make_room(self, origin: Origin) -> bool:
        """Close an idle connection to ``origin`` to reserve a new one in its place."""
        idle = self._idle.get(origin)
        if not idle:
            return False
        self._discard(idle.pop(0))  # the least recently used
        return self._reserve(origin)

    def _evict_one(self) -> bool:
        oldest: AsyncHTTPConnection | None = None
        for idle in self._idle.values():
            if idle and (oldest is None or idle[0].expires_at < oldest.expires_at):
                oldest = idle[0]
        if oldest is None:
            return False
        self._idle[oldest.origin].remove(oldest)
        self._discard(oldest)
        return True

    def _unreserve(self, origin: Origin) -> None:
        self._open[origin] -= 1
        self._total -= 1
        self._condition.notify_all()

    def _discard(self, connection: AsyncHTTPConnection) -> None:
        if not connection.closed:  # each connection is counted out once
            connection.close()
            self._unreserve(connection.origin)

    async def release(self, connection: AsyncHTTPConnection) -> None:
        """Give a connection back after its exchange: kept idle if it can be reused and
        has time left, closed otherwise."""
        if not self.keep(connection):
            await self.discard(connection)

    def keep(self, connection: AsyncHTTPConnection) -> bool:
        """``release`` without waiting: keep the connection idle if it can be reused and
        has time left (True); else do nothing (False: ``release`` closes it)."""
        with self._condition:
            idle_time = self._idle_time(connection)
            if not connection.reusable or idle_time <= 0 or self._closed:
                return False
            connection.start_next_cycle()
            connection.expires_at = self._clock() + idle_time
            self._idle.setdefault(connection.origin, []).append(connection)
            self._condition.notify_all()
            return True

    def _idle_time(self, connection: AsyncHTTPConnection) -> float:
        idle_time = self._limits.max_idle_time
        response = connection.engine.response
        server_timeout = None if response is None else keep_alive_timeout(response.headers)
        if server_timeout is not None:
            # Retire it a second before the server would: its timer started when it sent
            # the last byte, a little before we read it, and N has a one-second grain.
            idle_time = min(idle_time, server_timeout - 1.0)
        return idle_time

    async def discard(self, connection: AsyncHTTPConnection) -> None:
        """Close a connection whose exchange failed or was abandoned."""
        with self._condition:
            self._discard(connection)
        await connection.wait_closed()

    async def aclose(self) -> None:
        """Close the idle connections; busy ones close when released. Idempotent."""
        with self._condition:
            self._closed = True
            closing = [connection for idle in self._idle.values() for connection in idle]
            for connection in closing:
                self._discard(connection)
            self._idle.clear()
        for connection in closing:
            await connection.wait_closed()
