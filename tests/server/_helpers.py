"""Helpers for the server tests: a buffered HTTP reader over a raw socket, gates the app
waits on, a recording app, and a ``ferry serve`` subprocess.

Nothing here sleeps to synchronise: a test waits for an event, for bytes, or for a close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ferry.asgi import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]

FIXED_DATE = b"Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
"""The Date line every in-process response carries (the conftest patches the engine)."""

_DATE_RE = re.compile(
    rb"Date: (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep"
    rb"|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT\r\n"
)


def normalise_date(data: bytes) -> bytes:
    """Replace each well-formed Date line with FIXED_DATE (for subprocess servers)."""
    return _DATE_RE.sub(FIXED_DATE, data)


def head(status_line: str, *fields: str) -> bytes:
    """A whole response head: the status line, ``fields`` in order, the empty line."""
    return "".join(f"{line}\r\n" for line in (status_line, *fields)).encode() + b"\r\n"


def error_response(status: int, reason: str, detail: str) -> bytes:
    """The exact bytes of the response Ferry sends for a protocol error or an app failure."""
    body = f"{status} {reason}: {detail}\n".encode()
    return (
        head(
            f"HTTP/1.1 {status} {reason}",
            "content-type: text/plain; charset=utf-8",
            FIXED_DATE.decode().rstrip(),
            "Server: ferry",
            f"Content-Length: {len(body)}",
            "Connection: close",
        )
        + body
    )


# -- reading responses -----------------------------------------------------------------


class Reader:
    """Reads HTTP/1.1 responses from a socket, keeping what it read past each one."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(262144)
        self.buf += chunk
        return bool(chunk)

    def until(self, marker: bytes) -> bytes:
        """Bytes up to and including ``marker``; ConnectionError at a close before it."""
        while (end := self.buf.find(marker)) < 0:
            if not self._fill():
                raise ConnectionError(f"closed before {marker!r}: {self.buf!r}")
        end += len(marker)
        data, self.buf = self.buf[:end], self.buf[end:]
        return data

    def exactly(self, size: int) -> bytes:
        while len(self.buf) < size:
            if not self._fill():
                raise ConnectionError(f"closed after {len(self.buf)} of {size} bytes")
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def to_close(self) -> bytes:
        """Everything up to the server's close (a reset counts as a close)."""
        with contextlib.suppress(ConnectionResetError):
            while self._fill():
                pass
        data, self.buf = self.buf, b""
        return data

    def head(self) -> bytes:
        return self.until(b"\r\n\r\n")

    def response(self, *, head_request: bool = False) -> bytes:
        """One whole response, framing included, exactly as sent (1xx heads included)."""
        final = start = self.head()
        while final.startswith(b"HTTP/1.1 1"):  # an interim response: the final one follows
            final = self.head()
            start += final
        fields = parse_fields(final)
        status = int(final[9:12])
        if status in (204, 304) or head_request:
            return start
        if fields.get(b"transfer-encoding") == b"chunked":
            return start + self.chunked()
        if (length := fields.get(b"content-length")) is not None:
            return start + self.exactly(int(length))
        return start + self.to_close()

    def chunked(self) -> bytes:
        """A chunked body with its framing, up to and including the trailer section."""
        out = []
        while True:
            line = self.until(b"\r\n")
            out.append(line)
            size = int(line.split(b";")[0], 16)
            if size == 0:
                break
            out.append(self.exactly(size + 2))
        while (line := self.until(b"\r\n")) != b"\r\n":
            out.append(line)
        out.append(line)
        return b"".join(out)


def parse_fields(head_bytes: bytes) -> dict[bytes, bytes]:
    """Header fields of a response head, names lower-cased (the last one of a name wins)."""
    fields = {}
    for line in head_bytes.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    return fields


def open_connection(port: int, timeout: float = 5.0) -> tuple[socket.socket, Reader]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock, Reader(sock)


def assert_closed(sock: socket.socket) -> None:
    """The server has closed the connection: the next read sees EOF (or a reset)."""
    try:
        data = sock.recv(65536)
    except ConnectionResetError:
        return
    assert data == b""


def nothing_arrives(sock: socket.socket, seconds: float) -> bool:
    """True if the socket stays silent (no data, no close) for ``seconds``.

    A bounded wait, for the tests whose expected behaviour is an absence.
    """
    sock.settimeout(seconds)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    return False


# -- gates and recorders ----------------------------------------------------------------


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def captured_log(name: str) -> Iterator[list[logging.LogRecord]]:
    """The records logged to ``name`` meanwhile (whether or not it propagates)."""
    handler = _ListHandler()
    log = logging.getLogger(name)
    log.addHandler(handler)
    try:
        yield handler.records
    finally:
        log.removeHandler(handler)


class Gate:
    """A barrier an app awaits on the server's loop and a test opens from its thread.

    ``arrived(n)`` waits (with a deadline) until ``n`` waits have started. Used as a context
    manager inside ``serving(...)``, it opens on exit, before the server stops.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.arrivals = 0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            self.arrivals += 1
            self._cond.notify_all()
            if self._open:
                return
            self._waiters.append((loop, future))
        await future

    def arrived(self, count: int = 1, timeout: float = 5.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.arrivals >= count, timeout):
                raise TimeoutError(f"{self.arrivals} of {count} arrivals")

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.open()  # never leave an app waiting: the server's shutdown would wait for it

    def open(self) -> None:
        with self._cond:
            self._open = True
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that server has stopped: nothing waits
                loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Flag:
    """A threading.Event with a deadline-checked wait that raises instead of returning."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float = 5.0) -> None:
        if not self._event.wait(timeout):
            raise TimeoutError("the flag was not set in time")

    def stays_unset(self, seconds: float) -> bool:
        """A bounded wait for an absence: True if the flag is still unset after it."""
        return not self._event.wait(seconds)


class Recorder:
    """An app that records each scope and the messages it received, then answers 200."""

    def __init__(self, body: bytes = b"ok") -> None:
        self.scopes: list[Scope] = []
        self.messages: list[Message] = []
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        self.scopes.append(scope)
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(self.body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": self.body})


def text_response(status: int = 200, body: bytes = b"ok", **extra: bytes) -> ASGIApp:
    """An app answering every request with ``body`` (Content-Length set by Ferry)."""
    headers = [(b"content-type", b"text/plain")]
    headers += [(name.replace("_", "-").encode(), value) for name, value in extra.items()]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def on_server_loop(server: Any, read: Callable[[], T]) -> T:
    """Run ``read()`` on the server's loop (its state is only consistent there)."""

    async def call() -> T:
        return read()

    assert server.loop is not None
    return asyncio.run_coroutine_threadsafe(call(), server.loop).result(5)


# -- ferry serve as a subprocess --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FerryProcess:
    """``python -m ferry serve ARGS`` in the repository root, with its output captured."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        # Only the FERRY_ variables a test sets reach the server.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
        full_env = {**inherited, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ferry", "serve", *args],
            cwd=REPO,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=tuple(pass_fds),
        )

    def wait_ready(self, connect: Any, deadline: float = 10.0) -> None:
        """Poll ``connect()`` until it succeeds, the process dies, or ``deadline`` passes."""
        end = time.monotonic() + deadline
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ferry exited early: {self.finish()!r}")
            try:
                connect().close()
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.02)  # polling for readiness with a deadline, not a sync
            else:
                return

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 10.0) -> tuple[int, str, str]:
        """Wait for the exit; (returncode, stdout, stderr)."""
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out.decode(), err.decode()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()
        else:
            self.proc.communicate()


@contextlib.contextmanager
def ferry_process(
    args: Sequence[str], *, env: dict[str, str] | None = None, pass_fds: Sequence[int] = ()
) -> Iterator[FerryProcess]:
    process = FerryProcess(args, env=env, pass_fds=pass_fds)
    try:
        yield process
    finally:
        process.stop()


def tcp_connector(port: int) -> Any:
    return lambda: socket.create_connection(("127.0.0.1", port), timeout=1.0)


async def read_body(receive: Receive) -> bytes:
    """The whole request body (b"" if the client went away)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def body_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers 200 with the request body."""
    if scope["type"] != "http":
        raise RuntimeError("no lifespan here")
    body = await read_body(receive)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def run_curl(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[bytes]:
    """``curl -sS ARGS`` (no proxy, no config file); output captured."""
    return subprocess.run(
        ["curl", "-q", "-sS", "--noproxy", "*", *args],
        capture_output=True,
        timeout=timeout,
        check=False,
    )
