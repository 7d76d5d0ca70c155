"""One worker process: a normal Ferry server on the sockets it inherited, which tells
the main process how it is doing over a pipe of its own.

What a worker writes on its pipe, one byte each (``Message``):

* ``READY`` once it listens (its application imported, its lifespan started);
* ``BEAT`` every ``beat_interval`` seconds, from its event loop: the main process's
  watchdog reads a missing beat as a loop that no longer turns;
* ``RECYCLE`` when it has served its ``max_requests``: the main process starts its
  replacement, and stops it once the new one is ready.

Signals, as the main process sends them: SIGTERM and SIGINT stop it gracefully (as a
single Ferry process: ``--shutdown-delay``, whose end the main process signals with a
second SIGTERM, then the graceful shutdown); SIGQUIT stops it gracefully without the
delay, when it is replaced while the others serve on; SIGUSR2 makes it log the stack of every thread
(``faulthandler``, which works even when the loop is stuck in C) and then, as soon as
Python code runs, the requests in flight. SIGHUP, SIGTTIN and SIGTTOU are the main
process's: ignored here; SIGUSR1 reopens the access log file. A worker whose main
process is gone stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import faulthandler
import logging
import os
import random
import signal
import socket
import sys
import time
from typing import Any, NoReturn

from .._errors import ConfigError
from ..asgi._lifespan import LifespanFailure
from ..asgi._types import ASGIApp
from ..metrics import Recorder
from ..server import Config, Server
from ..server._access_log import reopen_access_files
from ..server._server import _run

__all__ = ["DUMP_SIGNAL", "EXIT_CONFIG", "EXIT_STARTUP", "RETIRE_SIGNAL", "Message", "run_worker"]

logger = logging.getLogger("ferry.error")

EXIT_CONFIG = 2  # the application target is wrong (as `ferry serve` exits)
EXIT_STARTUP = 3  # the application's lifespan startup failed (as `ferry serve` exits)
DUMP_SIGNAL = signal.SIGUSR2
RETIRE_SIGNAL = signal.SIGQUIT  # replaced while the others serve on: no delay


class Message(bytes, enum.Enum):
    """What a worker says to the main process, one byte each."""

    READY = b"R"
    BEAT = b"."
    RECYCLE = b"M"


def run_worker(
    config: Config,
    sockets: list[socket.socket],
    pipe: int,
    app: ASGIApp | None,
    metrics: memoryview | None = None,
) -> NoReturn:
    """The whole life of a forked worker; never returns. ``app`` is the preloaded
    application, or ``None`` to import it here; ``metrics`` the slot it counts into
    (``--metrics-port``: shared with the main process, which serves them)."""
    _reset_signals()
    _log_with_pid()
    status = 0
    try:
        server = Server(config, app)
        if metrics is not None:
            server.metrics = Recorder(metrics)
        _run(_serve(server, config, sockets, pipe), config.loop)
    except ConfigError as exc:
        _say(f"ferry: error: {exc}")
        status = EXIT_CONFIG
    except LifespanFailure as exc:
        _say(f"ferry: application startup failed: {exc}")
        status = EXIT_STARTUP
    except KeyboardInterrupt:
        pass
    except BaseException:
        logger.exception("worker %d failed", os.getpid())
        status = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    os._exit(status)


def _say(line: str) -> None:
    """One line to stderr in one write (print makes two), whole among the workers'."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _reset_signals() -> None:
    """The main process's handlers and wake-up descriptor are not the worker's."""
    signal.set_wakeup_fd(-1)
    # SIGUSR1 (reopen the access log) is ignored until the server's handler is in place.
    for number in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1):
        signal.signal(number, signal.SIG_IGN)
    for number in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, RETIRE_SIGNAL):
        signal.signal(number, signal.SIG_DFL)


def _log_with_pid() -> None:
    """The lines of several processes meet in one log: a worker's say whose they are."""
    for handler in logging.getLogger("ferry.error").handlers:
        handler.setFormatter(logging.Formatter("%(levelname)s: [%(process)d] %(message)s"))


async def _serve(server: Server, config: Config, sockets: list[socket.socket], pipe: int) -> None:
    loop = asyncio.get_running_loop()
    parent = os.getppid()
    messages = _Pipe(pipe)

    def dump_requests(signum: int, frame: Any) -> None:
        _log_requests_in_flight(server)

    # The Python-level handler first: faulthandler (C-level, runs even when the loop is
    # stuck in C code) chains to it, and it runs when Python code next runs.
    signal.signal(DUMP_SIGNAL, dump_requests)
    faulthandler.register(DUMP_SIGNAL, file=sys.stderr, all_threads=True, chain=True)

    def recycle() -> None:
        logger.info("worker %d served its max_requests: to be replaced", os.getpid())
        messages.send(Message.RECYCLE)

    def retire() -> None:
        server.retiring = True
        server.should_exit.set()

    loop.add_signal_handler(RETIRE_SIGNAL, retire)
    serving = loop.create_task(server.serve(install_signal_handlers=True, sockets=sockets))
    await _started(server, serving)
    reopen_access_files(announce=False)  # a SIGUSR1 ignored while starting: it may have moved
    if config.max_requests is not None:
        state = server.state
        state.recycle_at = config.max_requests + random.randint(0, config.max_requests_jitter)
        state.on_recycle = recycle
    messages.send(Message.READY)
    beat = loop.create_task(_beat(server, messages, parent, _beat_interval(config)))
    try:
        await serving
    finally:
        beat.cancel()


async def _started(server: Server, serving: asyncio.Task[None]) -> None:
    """Wait until the server listens; if it fails first, raise its error."""
    started = asyncio.ensure_future(server.started.wait())
    await asyncio.wait({started, serving}, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        started.cancel()
        await serving  # raises what stopped it (a failed lifespan startup, for one)


def _beat_interval(config: Config) -> float:
    """Beats come a few times within the watchdog's timeout, at most once a second."""
    return min(1.0, config.worker_timeout / 4) if config.worker_timeout else 1.0


async def _beat(server: Server, messages: _Pipe, parent: int, interval: float) -> None:
    while True:
        messages.send(Message.BEAT)
        if os.getppid() != parent:
            logger.warning("worker %d: the main process is gone; stopping", os.getpid())
            server.should_exit.set()
            return
        await asyncio.sleep(interval)


class _Pipe:
    """The write end of this worker's pipe to the main process, never blocking: a beat
    the main process has not read yet need not be written twice."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)

    def send(self, message: Message) -> None:
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self.fd, message.value)


def _log_requests_in_flight(server: Server) -> None:
    """Log the requests this worker is serving, with how long each has taken."""
    state = server._state
    connections = list(state.connections) if state is not None else []
    now = time.perf_counter()
    lines = []
    for protocol in connections:
        cycle = protocol.cycle
        request = protocol.conn.request
        if cycle is None or request is None:
            continue
        started = cycle.start_time  # perf_counter() when its head had arrived
        lines.append(
            f"  {request.method.decode('latin-1')} {request.target.decode('latin-1')} "
            f"from {_client(protocol.client)}, for {now - started:.1f} s"
        )
    if lines:
        logger.critical("worker %d: requests in flight:\n%s", os.getpid(), "\n".join(lines))
    else:
        logger.critical("worker %d: no request in flight", os.getpid())


def _client(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "-"
