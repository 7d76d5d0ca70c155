"""Answers without a task: ``StaticFiles.ferry_respond_now`` and the server's use of it.

For a bodiless GET or HEAD of a cached file, Ferry's server takes the whole response from
``ferry_respond_now`` instead of running the app in a task: the bytes of a file held in
memory, or a bigger file opened, which the server sends itself. The response must be the
very bytes the ASGI route sends; anything else (a Range, an HTML page, gzip's pieces, a
body) goes through ``__call__`` as before.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferry._accel import active as accelerated
from ferry.asgi import Receive, Scope, Send
from ferry.server._sendfile import SENDFILE_TURN
from ferry.static import StaticFiles
from ferry.static._conditional import Precondition
from tests.server._helpers import Reader
from tests.support import exchange, serving

CSS = b"body { color: red; }\n" * 100  # over gzip_min_size, under 64 KiB
Fields = list[tuple[bytes, bytes]]


FILES = {
    "page.txt": b"version one\n",
    "index.html": b"<!doctype html><title>t</title>\n",
    "style.css": CSS,
    "big.bin": bytes(range(256)) * 1024,  # not kept in memory
}


@pytest.fixture
def app(tmp_path: Path) -> StaticFiles:
    """StaticFiles over FILES, caching files however recently they were written."""
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    static = StaticFiles(tmp_path)
    static._cache.settle_ns = 0
    return static


def scope(
    path: str, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None
) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers or [],
    }


def fill_cache(app: StaticFiles, *paths: str) -> None:
    with serving(app) as server:
        for path in paths:
            exchange(server.port, f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode(), shut=True)


def test_a_file_held_in_memory_is_answered_at_once(app: StaticFiles) -> None:
    assert app.ferry_respond_now(scope("/page.txt")) is None  # not cached yet
    fill_cache(app, "/page.txt")
    answer = app.ferry_respond_now(scope("/page.txt"))
    assert answer is not None
    status, headers, body = answer
    assert (status, body) == (200, b"version one\n")
    fields = dict(headers)
    assert fields[b"content-type"] == b"text/plain; charset=utf-8"
    assert fields[b"content-length"] == b"12"
    head = app.ferry_respond_now(scope("/page.txt", "HEAD"))
    assert head == (200, headers, b"")  # the same fields, Content-Length included


def test_a_bigger_file_is_answered_with_the_open_file(app: StaticFiles) -> None:
    fill_cache(app, "/big.bin")
    answer = app.ferry_respond_now(scope("/big.bin"))
    assert answer is not None
    status, headers, body = answer
    assert isinstance(body, tuple)
    fd, size = body
    try:
        assert (status, size, dict(headers)[b"content-length"]) == (200, 262144, b"262144")
        assert os.pread(fd, size + 1, 0) == FILES["big.bin"]
    finally:
        os.close(fd)
    assert app.ferry_respond_now(scope("/big.bin", "HEAD")) == (200, headers, b"")


def answered(app: StaticFiles, path: str, headers: Fields | None = None) -> Any:
    """(status, body) of ferry_respond_now's answer (None for none); for an open file
    handed over, its size in place of the body, the file closed."""
    answer = app.ferry_respond_now(scope(path, headers=headers))
    if answer is None:
        return None
    status, _, body = answer
    if isinstance(body, tuple):
        os.close(body[0])
        return status, body[1]
    return status, body


@pytest.mark.parametrize(
    ("path", "whole"),
    [("/page.txt", b"version one\n"), ("/big.bin", 262144)],  # held in memory; opened
)
def test_validators_and_ranges_are_evaluated(app: StaticFiles, path: str, whole: Any) -> None:
    fill_cache(app, path)
    answer = app.ferry_respond_now(scope(path))
    assert answer is not None
    if isinstance(answer[2], tuple):
        os.close(answer[2][0])
    etag = dict(answer[1])[b"etag"]
    assert answered(app, path, [(b"if-none-match", etag)]) == (304, b"")
    assert answered(app, path, [(b"if-match", b'"other"')]) == (412, b"412 Precondition Failed\n")
    assert answered(app, path, [(b"if-none-match", b'"other"')]) == (200, whole)
    assert answered(app, path, [(b"range", b"bytes=0-3")]) is None


def test_a_bigger_file_with_a_precompressed_sibling_goes_to_the_app(
    app: StaticFiles, tmp_path: Path
) -> None:
    text = b"line of text\n" * 10_000  # compressible, and too big to keep in memory
    (tmp_path / "big.txt").write_bytes(text)
    (tmp_path / "big.txt.gz").write_bytes(gzip.compress(text))
    fill_cache(app, "/big.txt")
    gzipped = scope("/big.txt", headers=[(b"accept-encoding", b"gzip")])
    assert app.ferry_respond_now(gzipped) is None  # the full route serves the sibling
    answer = app.ferry_respond_now(scope("/big.txt"))  # no Accept-Encoding: the file
    assert answer is not None
    assert isinstance(answer[2], tuple)
    os.close(answer[2][0])
    assert answer[2][1] == len(text)


def test_a_bigger_file_that_changed_goes_to_the_app(app: StaticFiles, tmp_path: Path) -> None:
    fill_cache(app, "/big.bin")
    (tmp_path / "big.bin").write_bytes(b"y" * 300_000)
    assert app.ferry_respond_now(scope("/big.bin")) is None
    assert app.ferry_respond_now(scope("/big.bin")) is None  # the entry is gone meanwhile
    fill_cache(app, "/big.bin")
    answer = app.ferry_respond_now(scope("/big.bin"))
    assert answer is not None
    assert isinstance(answer[2], tuple)
    fd, size = answer[2]
    try:
        assert (size, os.pread(fd, 16, 0)) == (300_000, b"y" * 16)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("path", "method", "headers"),
    [
        ("/page.txt", "POST", []),  # 405 comes from the full route
        ("/page.txt", "OPTIONS", []),
        ("/page.txt", "GET", [(b"range", b"bytes=0-3")]),
        ("/index.html", "GET", []),  # an HTML page: Server-Timing from the exchange
        ("/", "GET", []),
        ("/style.css", "GET", [(b"accept-encoding", b"gzip")]),  # gzip's pieces, first time
        ("/missing.txt", "GET", []),
    ],
)
def test_other_requests_go_to_the_app(
    app: StaticFiles, path: str, method: str, headers: Fields
) -> None:
    fill_cache(app, "/page.txt", "/big.bin", "/index.html", "/", "/style.css", "/missing.txt")
    assert app.ferry_respond_now(scope(path, method, headers)) is None


def without_date(raw: bytes) -> bytes:
    return re.sub(rb"\r\n(Date|server-timing): [^\r]*", b"", raw)


REQUESTS = [
    "GET /page.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n",
    "HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n",
    "GET /big.bin HTTP/1.0\r\n\r\n",
    "HEAD /page.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    "GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n",
    "GET /style.css HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n",
    "GET /page.txt HTTP/1.0\r\n\r\n",
]


def test_the_bytes_are_those_of_the_asgi_route(app: StaticFiles, loop_name: str) -> None:
    """The same StaticFiles behind a plain ASGI wrapper (no ferry_respond_now) sends the
    same bytes, keep-alive and HTTP/1.0 included."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)

    fill_cache(app, "/page.txt", "/style.css", "/big.bin")
    answers = []
    for served in (app, wrapped):
        with serving(served, loop_name) as server:
            answers.append([without_date(exchange(server.port, r.encode())) for r in REQUESTS])
    assert answers[0] == answers[1]
    assert answers[0][0].endswith(b"\r\n\r\nversion one\n")


class Recording:
    """An app whose ``ferry_respond_now`` answers as ``mode`` says; it counts calls."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.called: list[str] = []
        self.asked = 0

    def ferry_respond_now(
        self, scope: Scope
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        self.asked += 1
        if self.mode == "raise":
            raise RuntimeError("not now")
        if self.mode == "none":
            return None
        if self.mode == "bad":
            return 200, [(b"x-bad", b"a\r\nb")], b""
        return 200, [(b"content-type", b"text/plain")], f"now {scope['path']}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.called.append(scope["path"])
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"called " + body})


@pytest.fixture
def recording(request: pytest.FixtureRequest, loop_name: str) -> Iterator[tuple[Recording, int]]:
    app = Recording(request.param)
    with serving(app, loop_name) as server:
        yield app, server.port


def body_of(raw: bytes) -> bytes:
    return raw.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("recording", ["answer"], indirect=True)
def test_the_server_answers_without_calling_the_app(recording: tuple[Recording, int]) -> None:
    app, port = recording
    raw = exchange(port, b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n")
    assert body_of(raw) == b"now /a"
    assert (app.asked, app.called) == (1, [])


@pytest.mark.parametrize("recording", ["answer"], indirect=True)
def test_a_request_with_a_body_goes_to_the_app(recording: tuple[Recording, int]) -> None:
    app, port = recording
    raw = exchange(port, b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
    assert body_of(raw) == b"called abc"
    assert (app.asked, app.called) == (0, ["/a"])


@pytest.mark.parametrize("recording", ["none", "raise"], indirect=True)
def test_no_answer_or_an_error_calls_the_app(recording: tuple[Recording, int]) -> None:
    app, port = recording
    raw = exchange(port, b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
    assert body_of(raw) == b"called "
    assert (app.asked, app.called) == (1, ["/a"])


@pytest.mark.parametrize("recording", ["bad"], indirect=True)
def test_an_invalid_answer_is_a_500(recording: tuple[Recording, int]) -> None:
    app, port = recording
    raw = exchange(port, b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"x-bad" not in raw  # never a header injection
    assert app.called == []


@pytest.mark.parametrize("recording", ["answer"], indirect=True)
def test_a_long_pipeline_is_answered_in_order(recording: tuple[Recording, int]) -> None:
    """Each answer completes inside the previous one's call; past a few, the server goes
    on from the event loop instead of nesting deeper."""
    app, port = recording
    count = 500
    data = b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(count))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        reader = Reader(sock)
        bodies = [body_of(reader.response()) for _ in range(count)]
    assert bodies == [b"now /%d" % i for i in range(count)]
    assert (app.asked, app.called) == (count, [])


def test_only_an_attribute_of_that_name_is_used(loop_name: str) -> None:
    """An app without ferry_respond_now is always called (the common case)."""
    app: Any = Recording("answer")

    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)

    with serving(plain, loop_name) as server:
        raw = exchange(server.port, b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
    assert body_of(raw) == b"called "
    assert app.asked == 0


def test_a_file_the_socket_cannot_take_at_once_goes_on_in_a_task(
    tmp_path: Path, loop_name: str
) -> None:
    # 16 MiB is more than loopback's socket buffers hold: the server's os.sendfile stops
    # short (EAGAIN) while the client has not read, and a task sends the rest. Every byte
    # arrives in order, and the connection serves the next request.
    data = bytes(range(256)) * (64 * 1024)
    (tmp_path / "huge.bin").write_bytes(data)
    app = StaticFiles(tmp_path)
    app._cache.settle_ns = 0
    fill_cache(app, "/huge.bin")
    answer = app.ferry_respond_now(scope("/huge.bin"))
    assert answer is not None
    assert isinstance(answer[2], tuple)  # answered at once, with the open file
    os.close(answer[2][0])
    request = b"GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n"
    with (
        serving(app, loop_name) as server,
        socket.create_connection(("127.0.0.1", server.port)) as sock,
    ):
        sock.settimeout(10)
        sock.sendall(request + request)
        reader = Reader(sock)
        for _ in range(2):
            response = reader.response()
            assert response.startswith(b"HTTP/1.1 200 OK\r\n")
            assert response.endswith(b"\r\n\r\n" + data)


def test_a_file_bigger_than_one_turn_lets_the_others_go_first(
    tmp_path: Path, loop_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Answered at once, a file is sent from data_received only up to one turn's worth;
    # a task sends the rest, after the loop has run the others. The client gets it all.
    data = bytes(range(256)) * (20 * 1024)  # 5 MiB: more than two turns
    (tmp_path / "huge.bin").write_bytes(data)
    app = StaticFiles(tmp_path)
    app._cache.settle_ns = 0
    fill_cache(app, "/huge.bin")
    real_sendfile = os.sendfile
    asked_outside_a_task: list[int] = []

    def recording(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        if asyncio.current_task() is None:  # called by data_received, not by a task
            asked_outside_a_task.append(count)
        return real_sendfile(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", recording)
    with (
        serving(app, loop_name) as server,
        socket.create_connection(("127.0.0.1", server.port)) as sock,
    ):
        sock.settimeout(10)
        sock.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        response = Reader(sock).response()
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.endswith(b"\r\n\r\n" + data)
    assert asked_outside_a_task  # the file was answered at once, by data_received
    assert sum(asked_outside_a_task) <= SENDFILE_TURN


def test_a_file_shorter_than_announced_aborts_the_connection(
    tmp_path: Path, loop_name: str
) -> None:
    # The hook hands over an open file and its size; the file has fewer bytes than that
    # (it shrank after the hook looked). The head has gone, so the response cannot be
    # fixed: the connection is aborted after the bytes there were, never padded.
    short = tmp_path / "short.bin"
    short.write_bytes(b"0123456789")

    class Shrunk:
        def ferry_respond_now(self, scope: Scope) -> tuple[int, Fields, tuple[int, int]]:
            return (
                200,
                [(b"content-type", b"application/octet-stream")],
                (
                    os.open(short, os.O_RDONLY),
                    100,
                ),
            )

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            return None

    with serving(Shrunk(), loop_name) as server:
        raw = exchange(server.port, b"GET /short.bin HTTP/1.1\r\nHost: t\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nContent-Length: 100" in head
    assert body == b"0123456789"


@pytest.mark.skipif(accelerated(), reason="compiled calls between modules can't be patched")
@pytest.mark.parametrize("path", ["/page.txt", "/big.bin"])  # held in memory; opened
def test_preconditions_are_evaluated_once_per_request(
    app: StaticFiles, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ferry.static import _app

    fill_cache(app, path)
    answer = app.ferry_respond_now(scope(path))
    assert answer is not None
    if isinstance(answer[2], tuple):
        os.close(answer[2][0])
    etag = dict(answer[1])[b"etag"]
    calls: list[str] = []
    real = _app.evaluate_preconditions

    def counting(headers: dict[str, str], etag: str, mtime: int) -> Precondition:
        calls.append(etag)
        return real(headers, etag, mtime)

    monkeypatch.setattr(_app, "evaluate_preconditions", counting)
    assert answered(app, path, [(b"if-none-match", etag)]) == (304, b"")
    assert len(calls) == 1


def test_a_reply_of_several_body_messages_is_not_an_answer_now(tmp_path: Path) -> None:
    # Multipart ranges (or gzip's pieces) go through send: the hook's shape holds one body.
    from ferry.static._body import FileBody
    from ferry.static._ranges import ByteRange
    from ferry.static._reply import Reply

    (tmp_path / "f").write_bytes(b"0123456789")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    pieces: list[bytes | ByteRange] = [b"--b\r\n", ByteRange(0, 1), b"--b--\r\n"]
    reply = Reply(206, [], FileBody(fd, str(tmp_path / "f"), 10, pieces))
    assert reply.answer_now() is None
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)  # closed
    assert Reply(200, [], (b"a", b"b")).answer_now() is None
