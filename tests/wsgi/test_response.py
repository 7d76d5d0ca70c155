"""WSGI responses over real sockets: start_response and exc_info as PEP 3333 says,
streaming with backpressure, close() always called, file_wrapper, errors, the pool."""

from __future__ import annotations

import io
import logging
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..server._helpers import (
    FIXED_DATE,
    Flag,
    assert_closed,
    error_response,
    head,
    open_connection,
)
from ..support import exchange, serving

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
DATE = FIXED_DATE.decode().rstrip()
INTERNAL_ERROR = error_response(500, "Internal Server Error", "Internal Server Error")


def ok_head(*framing: str, app: tuple[str, ...] = ()) -> bytes:
    """A 200 head: the app's fields, then Date and Server, then the framing fields."""
    return head("HTTP/1.1 200 OK", *app, DATE, "Server: ferry", *framing)


def get(app: Any, loop_name: str, request: bytes = GET, **options: Any) -> bytes:
    with serving(app, loop_name, interface="wsgi", **options) as server:
        return exchange(server.port, request)


class Closing:
    """A response iterable that records its close() and can fail after some items."""

    def __init__(self, items: list[bytes], fail_after: int | None = None) -> None:
        self.items = items
        self.fail_after = fail_after
        self.closed = Flag()

    def __iter__(self) -> Iterator[bytes]:
        for index, item in enumerate(self.items):
            if index == self.fail_after:
                raise RuntimeError("boom in the middle")
            yield item

    def close(self) -> None:
        self.closed.set()


def test_list_response_has_content_length(loop_name: str) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    response = get(app, loop_name, GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert response == (
        head(
            "HTTP/1.1 200 OK",
            "Content-Type: text/plain",
            DATE,
            "Server: ferry",
            "Content-Length: 5",
            "Connection: close",
        )
        + b"hello"
    )


def test_iterable_is_streamed_chunked_and_closed(loop_name: str) -> None:
    body = Closing([b"a", b"", b"bc"])

    def app(environ: Any, start_response: Any) -> Closing:
        start_response("201 Created", [("X-A", "1")])
        return body

    response = get(app, loop_name)
    assert response == (
        head(
            "HTTP/1.1 201 Created",
            "X-A: 1",
            DATE,
            "Server: ferry",
            "Transfer-Encoding: chunked",
        )
        + b"1\r\na\r\n2\r\nbc\r\n0\r\n\r\n"
    )
    body.closed.wait()


def test_write_callable_then_iterable(loop_name: str) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [])
        write(b"first ")
        return [b"second"]

    response = get(app, loop_name)
    assert response.endswith(b"\r\n\r\n6\r\nfirst \r\n6\r\nsecond\r\n0\r\n\r\n")


def test_exception_before_start_is_500_and_closes(
    loop_name: str, error_log: list[logging.LogRecord]
) -> None:
    body = Closing([b"never"], fail_after=0)

    def app(environ: Any, start_response: Any) -> Closing:
        start_response("200 OK", [])
        return body  # fails on its first item, before any header went out

    assert get(app, loop_name) == INTERNAL_ERROR
    body.closed.wait()
    assert [r.exc_info[1].args for r in error_log if r.exc_info and r.exc_info[1]] == [
        ("boom in the middle",)
    ]


def test_app_raising_is_500(loop_name: str, error_log: list[logging.LogRecord]) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        raise ValueError("app bug")

    assert get(app, loop_name) == INTERNAL_ERROR
    assert len(error_log) == 1


def test_generator_failing_half_way_aborts_the_connection(
    loop_name: str, error_log: list[logging.LogRecord]
) -> None:
    body = Closing([b"part one", b"never sent"], fail_after=1)

    def app(environ: Any, start_response: Any) -> Closing:
        start_response("200 OK", [])
        return body

    response = get(app, loop_name)
    # The head and the first chunk went out; no last chunk: the client can tell the
    # response is incomplete.
    assert response == (ok_head("Transfer-Encoding: chunked") + b"8\r\npart one\r\n")
    body.closed.wait()
    assert len(error_log) == 1


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        ("200", []),
        ("OK 200", []),
        (b"200 OK", []),
        ("200 OK", ()),
        ("200 OK", [("X-A",)]),
        ("200 OK", [("X-A", 1)]),
        ("200 OK", [["X-A", "1"]]),
        ("200 OK", [("Connection", "close")]),
        ("200 OK", [("Transfer-Encoding", "chunked")]),
        ("200 OK", [("X-A", "caf\u00e9\u20ac")]),
        ("200 OK", [("X-A", "a\r\nX-Injected: 1")]),
    ],
)
def test_invalid_start_response_is_500(
    loop_name: str, error_log: list[logging.LogRecord], status: Any, headers: Any
) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response(status, headers)
        return [b"body"]

    assert get(app, loop_name) == INTERNAL_ERROR


def test_start_response_twice_without_exc_info_is_500(
    loop_name: str, error_log: list[logging.LogRecord]
) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        start_response("404 Not Found", [])
        return [b"body"]

    assert get(app, loop_name) == INTERNAL_ERROR
    [record] = error_log
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "start_response called twice without exc_info"


def test_exc_info_before_headers_replaces_the_response(loop_name: str) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("X-Was", "ok")])
        try:
            raise KeyError("missing")
        except KeyError:
            start_response("503 Service Unavailable", [("X-Was", "error")], sys.exc_info())
        return [b"sorry"]

    response = get(app, loop_name)
    assert response == (
        head(
            "HTTP/1.1 503 Service Unavailable",
            "X-Was: error",
            DATE,
            "Server: ferry",
            "Content-Length: 5",
        )
        + b"sorry"
    )


def test_exc_info_after_headers_reraises_and_aborts(
    loop_name: str, error_log: list[logging.LogRecord]
) -> None:
    reraised = []

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        write = start_response("200 OK", [])
        write(b"sent")
        try:
            raise KeyError("late")
        except KeyError as exc:
            try:
                start_response("500 Internal Server Error", [], sys.exc_info())
            except KeyError as again:
                reraised.append(again is exc)
                raise
        yield b"never"

    response = get(app, loop_name)
    assert response == (ok_head("Transfer-Encoding: chunked") + b"4\r\nsent\r\n")
    assert reraised == [True]


def test_file_wrapper_sends_the_rest_of_a_file(loop_name: str, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789" * 10000)
    files: list[Any] = []

    def app(environ: Any, start_response: Any) -> Any:
        file = open(path, "rb")  # noqa: SIM115 - the wrapper's close() closes it
        file.seek(10)
        files.append(file)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](file, 4096)

    response = get(app, loop_name)
    assert response == (
        ok_head(
            "Content-Length: 99990",
            app=("Content-Type: application/octet-stream",),
        )
        + path.read_bytes()[10:]
    )
    assert files[0].closed


def test_file_wrapper_without_a_descriptor_is_iterated(loop_name: str) -> None:
    file = io.BytesIO(b"x" * 10000)

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Length", "10000")])
        return environ["wsgi.file_wrapper"](file, 4096)

    response = get(app, loop_name)
    assert response == ok_head("Content-Length: 10000") + b"x" * 10000
    assert file.closed


def test_download_waits_for_a_slow_client(loop_name: str) -> None:
    """Backpressure: a client that does not read stops the app's iteration."""
    produced = 0
    piece = b"x" * (1 << 20)
    total = 256

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        nonlocal produced
        start_response("200 OK", [("Content-Length", str(total * len(piece)))])
        for _ in range(total):
            produced += 1
            yield piece

    with serving(app, loop_name, interface="wsgi") as server:
        sock, reader = open_connection(server.port, timeout=10)
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(GET)
            reader.head()
            stalled = threading.Event()
            stalled.wait(0.5)  # a bounded wait: the app must stop, not finish
            assert produced < total // 4
            received = len(reader.buf)
            while received < total * len(piece):
                received += len(sock.recv(1 << 20))
            assert received == total * len(piece)
    assert produced == total


def test_upload_is_streamed_to_the_app(loop_name: str) -> None:
    """wsgi.input hands the app the first bytes before the client sent the rest."""
    first_read = Flag()
    seen: list[bytes] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        seen.append(stream.read(5))
        first_read.set()
        seen.append(stream.readline())
        seen.append(stream.read1(3))
        seen.extend(stream)
        start_response("200 OK", [])
        return [b"%d" % len(b"".join(seen))]

    with serving(app, loop_name, interface="wsgi") as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"
            )
            first_read.wait()  # would time out if the body were read whole first
            sock.sendall(b"a\r\n line\nrest\r\n6\r\n a\nb\nc\r\n0\r\n\r\n")
            response = reader.response()
    assert response.endswith(b"\r\n\r\n21")
    assert seen == [b"first", b" line\n", b"res", b"t a\n", b"b\n", b"c"]


def test_threads_bound_concurrent_requests(loop_name: str) -> None:
    entered = threading.Semaphore(0)
    release = threading.Event()
    lock = threading.Lock()
    active = peak = 0

    def app(environ: Any, start_response: Any) -> list[bytes]:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        entered.release()
        release.wait(10)
        with lock:
            active -= 1
        start_response("200 OK", [])
        return [b"done"]

    with serving(app, loop_name, interface="wsgi", threads=2) as server:
        connections = [open_connection(server.port) for _ in range(3)]
        for sock, _ in connections:
            sock.sendall(GET)
        assert entered.acquire(timeout=5)
        assert entered.acquire(timeout=5)
        assert not entered.acquire(timeout=0.3)  # the third waits for a free thread
        release.set()
        for sock, reader in connections:
            with sock:
                assert reader.response().endswith(b"\r\n\r\ndone")
    assert peak == 2


def test_close_is_called_when_the_client_goes_away(loop_name: str) -> None:
    body = Closing([b"x" * (1 << 20)] * 512)

    def app(environ: Any, start_response: Any) -> Closing:
        start_response("200 OK", [])
        return body

    with serving(app, loop_name, interface="wsgi") as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(GET)
            reader.head()
        body.closed.wait()


def test_head_request_sends_no_body(loop_name: str) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "5")])
        return [b"hello"]

    with serving(app, loop_name, interface="wsgi") as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert reader.to_close() == head(
                "HTTP/1.1 200 OK", DATE, "Server: ferry", "Content-Length: 5", "Connection: close"
            )
            assert_closed(sock)


def test_header_values_lose_surrounding_whitespace(loop_name: str) -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Set-Cookie", "  a=1 \t"), ("X-B", "")])
        return [b""]

    assert get(app, loop_name) == (ok_head("Content-Length: 0", app=("Set-Cookie: a=1", "X-B: ")))


def test_client_leaving_inside_the_body_raises_in_read(loop_name: str) -> None:
    raised: list[BaseException] = []
    done = Flag()

    def app(environ: Any, start_response: Any) -> list[bytes]:
        try:
            environ["wsgi.input"].read(100)
        except OSError as exc:
            raised.append(exc)
        finally:
            done.set()
        start_response("200 OK", [])
        return [b""]

    with serving(app, loop_name, interface="wsgi") as server:
        sock, _ = open_connection(server.port)
        with sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        done.wait()
    assert [type(exc).__name__ for exc in raised] == ["ClientDisconnected"]
