"""Listen, serve, shut down: the lifetime of a Ferry server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from typing import Any

from .. import _accel
from .._errors import ConfigError
from ..asgi._lifespan import Lifespan
from ..asgi._types import ASGIApp
from ..metrics import Recorder
from ._access_log import reopen_access_files
from ._backlog import (
    HANDSHAKE_POLL,
    HANDSHAKE_WAIT,
    accept_queued,
    handshakes_in_flight,
    release,
    seal,
)
from ._config import Config
from ._loader import adapt_app, import_app
from ._logging import configure_logging
from ._metrics import LocalMetrics, publish_gauges
from ._protocol import HTTPProtocol
from ._slow_requests import watch_slow_requests
from ._sockets import _remove_stale_socket
from ._state import ServerState
from ._tls import TLSSettings
from ._tls_connection import TLSConnection

__all__ = ["Server", "serve"]

logger = logging.getLogger("ferry.error")

_TICK = 0.5  # seconds between deadline sweeps: timeouts are this precise
# At shutdown, the longest wait for handshakes begun before the listener was sealed
# (_backlog): a lost final ACK is repeated with the SYN-ACK, which Linux sends again
# after 1 s; a handshake still half done after this is a SYN flood's, not a client's.
_MAIN_PROCESS_GRACE = 5.0  # seconds a worker's delay waits past its own for the main

# Tracked objects allocated (net) before a young collection. CPython's default, 700, is
# about what 64 keep-alive requests in flight hold, so under load the collector ran
# every few requests and promoted them all; at this size a young collection stays well
# under a millisecond and is rare while live objects only come and go.
YOUNG_THRESHOLD = 10_000


class Server:
    """A Ferry server for one ASGI application.

    ``await serve()`` runs until ``should_exit`` is set (SIGINT/SIGTERM set it when run
    with ``install_signal_handlers=True``). ``started`` is set once the server listens;
    ``sockets`` then holds its listening sockets.
    """

    def __init__(self, config: Config, app: ASGIApp | None = None) -> None:
        self.config = config
        if app is None:
            app = import_app(
                config.app, factory=config.factory, static=config.static, app_dir=config.app_dir
            )
        # ASGI 2 and WSGI apps are served through adapters that are ASGI 3 apps themselves
        # (the WSGI one owns the thread pool, stopped by its lifespan shutdown).
        self.app = adapt_app(app, config.interface, config.threads)
        self.started = asyncio.Event()
        self.should_exit = asyncio.Event()
        self.sockets: list[socket.socket] = []
        self._state: ServerState | None = None
        self._given_sockets: list[socket.socket] | None = None
        # A worker replaced while the others serve on (SIGQUIT): no --shutdown-delay.
        self.retiring = False
        self._factory: Any = None  # the protocol factory of the listener
        # --ssl-certfile: read now, so that a bad file is a ConfigError before listening;
        # each new connection takes the settings of the moment (reload_tls replaces them).
        self.tls: TLSSettings | None = None
        if config.ssl_certfile is not None:
            self.tls = TLSSettings(config)
        # --metrics-port: a worker's recorder (given by the main process, which serves
        # the metrics), or, once serving, a single process's own (local_metrics).
        self.metrics: Recorder | None = None
        self.local_metrics: LocalMetrics | None = None

    @property
    def state(self) -> ServerState:
        assert self._state is not None, "the server is not running"
        return self._state

    def run(self) -> None:
        """Serve until interrupted, on the configured event loop."""
        configure_logging(self.config.log_level, self.config.access_log_file)
        _run(self.serve(install_signal_handlers=True), self.config.loop)

    async def serve(
        self,
        *,
        install_signal_handlers: bool = False,
        sockets: list[socket.socket] | None = None,
    ) -> None:
        """Start (lifespan, listen), serve until ``should_exit``, then shut down.

        ``sockets``: listening sockets made by the caller (a worker's, inherited from the
        main process) to serve on instead of the configured address. They stay the
        caller's: a UNIX socket's path is not removed, and they are not announced."""
        self._given_sockets = sockets
        loop = asyncio.get_running_loop()
        state = self._state = ServerState(self.config, self.app, loop)
        if self.config.metrics_port is not None and not sockets and self.metrics is None:
            self.local_metrics = LocalMetrics(self.config)
            self.metrics = self.local_metrics.recorder
        state.metrics = self.metrics
        lifespan = Lifespan(self.app, self.config.lifespan)
        await lifespan.startup()
        state.lifespan_state = lifespan.state
        try:
            await self._serve(loop, state, install_signal_handlers)
        finally:
            # Lifespan spec: once startup completed, the app gets its shutdown, also when
            # listening failed (it may hold resources it opened at startup).
            await lifespan.shutdown()

    async def _serve(
        self, loop: asyncio.AbstractEventLoop, state: ServerState, install_signal_handlers: bool
    ) -> None:
        """Listen, serve until ``should_exit``, then shut the connections down."""
        server = await self._listen(loop, state)
        self.sockets = list(server.sockets)
        if self.local_metrics is not None:
            await self.local_metrics.start(loop, state)
        if install_signal_handlers:  # Ferry runs the process (Server.run)
            self._install_signal_handlers(loop)
            if self.config.gc_tuning:
                tune_gc()
        ticker = loop.create_task(self._tick(state))
        slow = self.config.slow_request_log
        watcher = loop.create_task(watch_slow_requests(state, slow)) if slow else None
        self._log_started()
        self.started.set()
        try:
            await self.should_exit.wait()
            await self._drain_first(state)
        finally:
            try:
                await self._shutdown(server, state)
            finally:
                # Deadlines hold during the grace period too: a stalled client gets its
                # 408 rather than holding the shutdown until graceful_timeout.
                ticker.cancel()
                if watcher is not None:
                    watcher.cancel()
                if state.metrics is not None:
                    state.metrics.publish()  # the last counts, before a worker exits
                if self.local_metrics is not None:
                    await self.local_metrics.stop()  # the last to go: it saw the drain

    async def _drain_first(self, state: ServerState) -> None:
        """``--shutdown-delay``: go on serving for that long, each response with
        ``Connection: close`` and the ready path answering 503, so that the balancer in
        front takes this server out before it refuses anything. A second signal (or
        ``should_exit`` set again) ends the delay."""
        delay = self.config.shutdown_delay
        if delay <= 0 or self.retiring:
            return
        logger.info("draining for %g s before shutting down (--shutdown-delay)", delay)
        state.draining = True
        self.should_exit.clear()
        if self._given_sockets:
            # A worker: the main process, which owns the sockets, ends the delay with a
            # second SIGTERM once it has sealed them (see _take_backlog); a bound anyway.
            delay += _MAIN_PROCESS_GRACE
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.should_exit.wait(), delay)

    async def _listen(self, loop: asyncio.AbstractEventLoop, state: ServerState) -> Any:
        config = self.config

        def http_factory() -> HTTPProtocol:
            return HTTPProtocol(state)

        def tls_factory() -> TLSConnection:
            assert self.tls is not None
            return TLSConnection(state, self.tls)

        factory: Any = http_factory if self.tls is None else tls_factory
        self._factory = factory
        if self._given_sockets:
            return await _Listeners.start(loop, factory, self._given_sockets, config.backlog)
        if config.fd is not None:
            # socket() reads the family and type of an existing descriptor itself.
            sock = socket.socket(fileno=config.fd)
            if sock.family == socket.AF_UNIX:
                return await loop.create_unix_server(factory, sock=sock, backlog=config.backlog)
            return await loop.create_server(factory, sock=sock, backlog=config.backlog)
        if config.uds is not None:
            _remove_stale_socket(config.uds)
            return await loop.create_unix_server(factory, config.uds, backlog=config.backlog)
        return await loop.create_server(
            factory, config.host, config.port, backlog=config.backlog, reuse_address=True
        )

    async def _tick(self, state: ServerState) -> None:
        loop = state.loop
        while True:
            expected = loop.time() + _TICK
            await asyncio.sleep(_TICK)
            now = loop.time()
            for protocol in list(state.connections):
                protocol.check_deadline(now)
            state.lingering.check_deadlines(now)
            metrics = state.metrics
            if metrics is not None:  # what the main process of --workers reads
                metrics.loop_lag(max(0.0, now - expected))
                publish_gauges(state, metrics)
                metrics.publish()  # the counts batched since the last (Recorder)

    async def _shutdown(self, server: Any, state: ServerState) -> None:
        """Serve the accept queue and stop listening; let requests in flight finish
        (within the grace period), then the staged closes (within what is left of it)."""
        loop = state.loop
        end = loop.time() + self.config.graceful_timeout
        state.shutting_down = True
        await self._take_backlog(loop, server, state, end)
        for protocol in list(state.connections):
            protocol.shutdown()
        state.check_drained()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.drained.wait(), max(end - loop.time(), 0.0))
        for protocol in list(state.connections):
            protocol.transport.abort()
        for task in list(state.tasks):
            task.cancel()
        if state.tasks:
            await asyncio.wait(list(state.tasks), timeout=1.0)
        # The last responses are written: their closes end by the client's EOF or their
        # bounds (_linger), and at the latest when the grace period does.
        await state.lingering.wait_empty(end)
        await server.wait_closed()

    async def _take_backlog(
        self, loop: asyncio.AbstractEventLoop, server: Any, state: ServerState, end: float
    ) -> None:
        """Stop listening without resetting the connections queued (see ``_backlog``):
        seal each listener, wait for the handshakes begun before, accept what is queued,
        close; those accepted are served (``connection_made``: shutting down, each is
        told ``Connection: close``)."""
        listeners = [socket.socket(fileno=os.dup(sock.fileno())) for sock in server.sockets]
        accepted: list[socket.socket] = []
        try:
            # Given sockets are a worker's, shared with the others and owned by the main
            # process: it seals them when the whole server stops (Supervisor._seal); a
            # worker only takes its share of the queue.
            owned = not self._given_sockets
            sealed = [seal(sock, self.config.uds) if owned else False for sock in listeners]
            wait_until = min(end, loop.time() + HANDSHAKE_WAIT)
            exact = [sock for sock, is_sealed in zip(listeners, sealed, strict=True) if is_sealed]
            # The kernel has no event for a handshake's end: it is polled, bounded.
            while loop.time() < wait_until and any(map(handshakes_in_flight, exact)):  # noqa: ASYNC110
                await asyncio.sleep(HANDSHAKE_POLL)  # the loop still accepts meanwhile
            for sock in listeners:
                accepted += accept_queued(sock)
            # asyncio accepts in a task that makes the transport a turn later, and, in
            # 3.11, fails if the server has been closed meanwhile: let those turns come.
            await asyncio.sleep(0)
            server.close()
        finally:
            for sock in listeners:
                if self.config.fd is not None and owned:
                    release(sock)
                sock.close()
        connecting = [loop.connect_accepted_socket(self._factory, conn) for conn in accepted]
        results = await asyncio.gather(*connecting, return_exceptions=True)
        for conn, result in zip(accepted, results, strict=True):
            if isinstance(result, BaseException):
                conn.close()  # gone before it could be served (reset by the client)
        await asyncio.sleep(0)  # the protocols of asyncio's last accepts are made

    def _install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.should_exit.set)
        if self.tls is not None and not self._given_sockets:
            # A single process: SIGHUP reads the certificate and key again, in place.
            # (A worker's SIGHUP is its main process's: the new workers read them.)
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGHUP, self.reload_tls)
        # SIGUSR1, as gunicorn and nginx: the access log file was rotated, reopen it.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGUSR1, reopen_access_files)

    def reload_tls(self) -> None:
        """Read the certificate and key again: new handshakes use them, the open
        connections go on with theirs. A file that fails keeps the old ones (logged)."""
        try:
            self.tls = TLSSettings(self.config)
        except ConfigError as exc:
            logger.error("SIGHUP: TLS not reloaded, the old certificate stays: %s", exc)
            return
        logger.info("SIGHUP: TLS certificate and key reloaded from %s", self.config.ssl_certfile)

    def _log_started(self) -> None:
        logger.debug("compiled accelerator %s", _accel.reason())
        if self._given_sockets:
            logger.debug("serving on the %d sockets given", len(self.sockets))
            return  # whoever made them announces them
        for sock in self.sockets:
            name = sock.getsockname()
            if isinstance(name, tuple):
                host = f"[{name[0]}]" if ":" in name[0] else name[0]
                scheme = "http" if self.tls is None else "https"
                logger.info("Ferry serving on %s://%s:%d (Ctrl+C to stop)", scheme, host, name[1])
            else:
                logger.info("Ferry serving on unix:%s (Ctrl+C to stop)", name)


class _Listeners:
    """Several asyncio servers, one per given socket, closed and awaited as one (what
    ``Server`` asks of the one ``loop.create_server`` returns)."""

    def __init__(self, servers: list[asyncio.AbstractServer]) -> None:
        self._servers = servers

    @classmethod
    async def start(
        cls,
        loop: asyncio.AbstractEventLoop,
        factory: Any,
        sockets: list[socket.socket],
        backlog: int,
    ) -> _Listeners:
        servers: list[asyncio.AbstractServer] = []
        for sock in sockets:
            if sock.family == socket.AF_UNIX:
                servers.append(await loop.create_unix_server(factory, sock=sock, backlog=backlog))
            else:
                servers.append(await loop.create_server(factory, sock=sock, backlog=backlog))
        return cls(servers)

    @property
    def sockets(self) -> list[Any]:
        return [sock for server in self._servers for sock in server.sockets]  # type: ignore[attr-defined]

    def close(self) -> None:
        for server in self._servers:
            server.close()

    async def wait_closed(self) -> None:
        for server in self._servers:
            await server.wait_closed()


def tune_gc() -> None:
    """Make the garbage collector cheap for a server that has finished starting.

    Everything alive now (modules, the app, its startup state) lives as long as the
    process: frozen, a full collection no longer walks it, which took ~6 ms on a small
    app and was the server's p99 latency under load. Cyclic garbage made later is still
    collected, in rarer young collections (``YOUNG_THRESHOLD``).
    """
    gc.collect()  # garbage made during startup is not frozen
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if young:  # 0: the collector was turned off on purpose
        gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)


def _run(main: Any, loop_name: str) -> None:
    if loop_name in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if loop_name == "uvloop":
                raise
        else:
            if sys.version_info >= (3, 12):
                uvloop.run(main)
            else:
                uvloop.install()
                asyncio.run(main)
            return
    asyncio.run(main)


def serve(app: ASGIApp, **options: Any) -> None:
    """Serve ``app`` until interrupted; ``options`` are Config fields (host, port, ...)."""
    Server(Config(**options), app).run()
