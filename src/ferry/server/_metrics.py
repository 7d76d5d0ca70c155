"""``--metrics-port`` in a single process: its one slot of counts, the gauges the
ticker writes into it, and the metrics listener, an asyncio server of its own (never
the application's port) that answers scrapes through ``ferry.metrics.ScrapeExchange``.
With ``--workers`` the listener is the main process's (``ferry.workers._metrics``)."""

from __future__ import annotations

import asyncio
import logging
import os
import typing
from typing import TYPE_CHECKING, Any, Final

from ..metrics import Recorder, ScrapeExchange, SharedSlots, process_stats, render

if TYPE_CHECKING:
    from ._config import Config
    from ._state import ServerState

__all__ = ["LocalMetrics", "log_listening", "publish_gauges"]

logger = logging.getLogger("ferry.error")

SCRAPE_TIMEOUT: Final = 10.0  # seconds a scrape's connection may stay open


def log_listening(name: Any) -> None:
    """Say where the metrics are (``name``: the listener socket's)."""
    host = f"[{name[0]}]" if ":" in name[0] else name[0]
    logger.info("Ferry metrics on http://%s:%d/metrics", host, name[1])


def publish_gauges(state: ServerState, recorder: Recorder) -> None:
    """Write the gauges of ``state`` now: requests in flight (connections with a
    request whose response is not complete) and open connections."""
    in_flight = 0
    for protocol in state.connections:
        if protocol.cycle is not None:
            in_flight += 1
    recorder.gauges(in_flight, len(state.connections))


class LocalMetrics:
    """The counts of a single process (``recorder``), and its metrics listener."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.slots = SharedSlots(1)
        index = self.slots.assign()
        assert index is not None
        self.recorder = Recorder(self.slots.slot(index))
        self._state: ServerState | None = None
        self._server: asyncio.Server | None = None

    async def start(self, loop: asyncio.AbstractEventLoop, state: ServerState) -> None:
        """Listen on --metrics-host:--metrics-port."""
        self._state = state
        config = self.config
        self._server = await loop.create_server(
            lambda: ScrapeProtocol(self.render),
            config.metrics_host,
            config.metrics_port,
            reuse_address=True,
        )
        for sock in self.sockets:
            log_listening(sock.getsockname())

    @property
    def sockets(self) -> list[Any]:
        """The listener's sockets (its port, when --metrics-port is 0)."""
        return list(self._server.sockets) if self._server is not None else []

    def render(self) -> bytes:
        """The exposition of this process, its gauges as they are now."""
        if self._state is not None:
            publish_gauges(self._state, self.recorder)
        self.recorder.publish()
        stats = process_stats(os.getpid())
        return render(self.slots.snapshot(), [({}, stats)] if stats is not None else [])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


class ScrapeProtocol(asyncio.Protocol):
    """One connection to the metrics listener: the request in, the response, closed."""

    def __init__(self, render: typing.Callable[[], bytes]) -> None:
        self.exchange = ScrapeExchange(render)
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(SCRAPE_TIMEOUT, self.transport.abort)

    def data_received(self, data: bytes) -> None:
        self._answer(data)

    def eof_received(self) -> bool:
        self._answer(b"")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _answer(self, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        response = self.exchange.receive_data(data)
        if response:
            transport.write(response)
        if self.exchange.done:
            transport.close()
