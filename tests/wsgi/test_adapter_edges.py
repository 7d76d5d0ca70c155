"""The WSGI adapter's edges: what it refuses, its lifespan, and wsgi.input's methods."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from ferry.wsgi import WSGIAdapter

from ..server._helpers import error_response, open_connection
from ..support import exchange, serving

INTERNAL_ERROR = error_response(500, "Internal Server Error", "Internal Server Error")


def hello(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b"hello"]


def test_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="threads must be at least 1"):
        WSGIAdapter(hello, threads=0)


def test_websocket_scope_is_refused() -> None:
    async def call() -> None:
        await WSGIAdapter(hello)({"type": "websocket"}, _never, _never)

    with pytest.raises(TypeError, match="a WSGI application cannot serve a 'websocket'"):
        asyncio.run(call())


async def _never(*args: Any) -> Any:
    raise AssertionError("not called")


def test_lifespan_shutdown_stops_the_pool(loop_name: str) -> None:
    adapter = WSGIAdapter(hello)
    with serving(adapter, loop_name, lifespan="on") as server:
        assert exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").endswith(b"hello")
        workers = adapter._workers
        assert workers is not None
        assert [thread.is_alive() for thread in workers.threads] == [True]
    assert adapter._workers is None
    assert workers.stopped
    for thread in workers.threads:
        thread.join(5)
    assert [thread.is_alive() for thread in workers.threads] == [False]
    with pytest.raises(RuntimeError, match="the WSGI thread pool is stopped"):
        workers.submit(lambda: None)


@pytest.mark.parametrize(
    ("items", "as_iterator"),
    [(["text"], False), ([b"ok", "text"], False), (["text"], True), ([b"ok", 1], False)],
    ids=["str-only", "str-last", "str-iter", "int"],
)
def test_a_body_that_is_not_bytes_is_an_error(
    loop_name: str, error_log: list[logging.LogRecord], items: list[Any], as_iterator: bool
) -> None:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [])
        return iter(items) if as_iterator else items

    with serving(app, loop_name, interface="wsgi") as server:
        response = exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    # A bad first item: nothing was sent, a 500. After b"ok" the head and that piece
    # went out, so the connection is aborted without the last chunk.
    if items[0] == b"ok":
        assert response.endswith(b"\r\n\r\n2\r\nok\r\n")
    else:
        assert response == INTERNAL_ERROR
    assert [type(r.exc_info[1]) for r in error_log if r.exc_info] == [TypeError]


def test_body_before_start_response_is_500(
    loop_name: str, error_log: list[logging.LogRecord]
) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        return [b"no head"]

    with serving(app, loop_name, interface="wsgi") as server:
        assert exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == INTERNAL_ERROR


def test_input_readlines_and_read_all(loop_name: str) -> None:
    seen: list[Any] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        seen.append(stream.readline(3))
        seen.append(stream.readlines(4))
        seen.append(stream.read1(2))
        seen.append(stream.read(None))
        seen.append(stream.read(10))
        seen.append(stream.read1())
        start_response("200 OK", [])
        return []

    body = b"abcdef\nxy\nzz\ntail"
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with serving(app, loop_name, interface="wsgi") as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(request)
            assert reader.response().endswith(b"Content-Length: 0\r\n\r\n")
    assert seen == [b"abc", [b"def\n"], b"xy", b"\nzz\ntail", b"", b""]


SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/",
    "raw_path": b"/",
    "query_string": b"",
    "http_version": "1.1",
    "headers": [],
    "server": ("127.0.0.1", 80),
    "client": None,
}


@pytest.mark.parametrize("cancel_while", ["app-runs", "loop-receives"])
def test_a_cancelled_request_does_not_strand_its_thread(cancel_while: str) -> None:
    """When the server cancels a request (shutdown's deadline), its thread's next or
    current question to the loop is answered with ClientDisconnected, not left hanging."""
    entered = threading.Event()
    release = threading.Event()
    finished = threading.Event()
    raised: list[str] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        entered.set()
        release.wait(5)
        try:
            environ["wsgi.input"].read()
        except OSError as exc:
            raised.append(type(exc).__name__)
        finally:
            finished.set()
        start_response("200 OK", [])
        return [b""]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        receiving = asyncio.Event()

        async def receive() -> Any:
            receiving.set()
            await loop.create_future()  # the body never comes

        adapter = WSGIAdapter(app, threads=1)
        task = asyncio.ensure_future(adapter(SCOPE, receive, _never))
        assert await loop.run_in_executor(None, entered.wait, 5)
        if cancel_while == "loop-receives":
            release.set()
            await receiving.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        assert await loop.run_in_executor(None, finished.wait, 5)
        adapter.shutdown()

    asyncio.run(main())
    assert raised == ["ClientDisconnected"]
