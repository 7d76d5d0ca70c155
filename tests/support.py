"""Test support: a real Ferry server in a background thread, raw sockets, an echo app.

Everything here talks to 127.0.0.1 over real sockets; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections.abc import Coroutine, Iterator
from typing import Any

from ferry import Config, Server
from ferry.asgi import ASGIApp, Receive, Scope, Send

LOOPS = ["asyncio", "uvloop"]

FIXED_TIME = 1767225600.0
"""2026-01-01T00:00:00Z: what the conftests set ``ferry.http1._date.clock`` to, so that
every in-process response carries ``Date: Thu, 01 Jan 2026 00:00:00 GMT``."""


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(loop_name: str, coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` to its end on a new loop of the kind ``loop_name`` names."""
    loop = new_loop(loop_name)
    try:
        loop.run_until_complete(coroutine)
    finally:
        loop.close()


class ServerThread:
    """Run ``Server(config, app)`` on its own loop in a thread; ``port`` once started."""

    def __init__(self, app: ASGIApp, loop: str = "asyncio", **options: Any) -> None:
        options.setdefault("port", 0)
        options.setdefault("access_log", False)
        options.setdefault("log_level", "warning")
        self.config = Config(**options)
        self.app = app
        self.loop_name = loop
        self.server: Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def _run(self) -> None:
        loop = self.loop = new_loop(self.loop_name)
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            self.error = exc
        finally:
            self._ready.set()
            loop.close()

    def make_server(self) -> Server:
        """The server to run (a test may give it what a worker is given)."""
        return Server(self.config, self.app)

    async def _main(self) -> None:
        self.server = self.make_server()
        serving = asyncio.ensure_future(self.server.serve())
        started = asyncio.ensure_future(self.server.started.wait())
        await asyncio.wait([serving, started], return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            serving.result()  # a startup error: raise it here, so _run records it first
        self._ready.set()
        await serving

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(timeout=10)
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> None:
        """Ask the server to shut down gracefully and wait for it."""
        if self.loop is not None and self.server is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.server.should_exit.set)
        self._thread.join(timeout=60)

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def serving(app: ASGIApp, loop: str = "asyncio", **options: Any) -> Iterator[ServerThread]:
    with ServerThread(app, loop, **options) as server:
        yield server


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_until_close(sock: socket.socket) -> bytes:
    """Read until the server closes (or resets) the connection."""
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def exchange(port: int, data: bytes, *, shut: bool = True, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a new connection (half-closing after it) and read to the close."""
    with connect(port, timeout) as sock:
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        return read_until_close(sock)


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """Read one response with a Content-Length body: (head, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head: {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a response body")
        rest += chunk
    assert len(rest) == length, "more bytes than one response"
    return head, rest


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer every request with 200 and a JSON summary of what reached the app."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    summary = {
        "method": scope["method"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "query_string": scope["query_string"].decode("latin-1"),
        "http_version": scope["http_version"],
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
        "body": body.decode("latin-1"),
    }
    payload = json.dumps(summary).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class LogLines(logging.Handler):
    """The messages of one logger as they come, from any thread; ``wait`` blocks until
    there are enough (a log line is what the test waits for, never a sleep)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._arrived = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._arrived:
            self.lines.append(record.getMessage())
            self._arrived.notify_all()

    def wait(self, count: int, timeout: float = 10.0) -> list[str]:
        """The first ``count`` lines, once there are; AssertionError after ``timeout``."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.lines) >= count, timeout):
                raise AssertionError(f"{count} log lines awaited, got {self.lines!r}")
            return self.lines[:count]


@contextlib.contextmanager
def log_lines(name: str, level: int = logging.INFO) -> Iterator[LogLines]:
    """Collect what logger ``name`` logs at ``level`` and above, while in the block."""
    logger = logging.getLogger(name)
    handler = LogLines()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
