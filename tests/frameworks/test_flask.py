"""Flask (WSGI) served by Ferry over 127.0.0.1: real responses, real uploads."""

from __future__ import annotations

import socket
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..server._helpers import FIXED_DATE, head, open_connection
from ..support import serving

flask = pytest.importorskip("flask")

DATE = FIXED_DATE.decode().rstrip()
BIG = 200 * (1 << 20)


def make_app(tmp_path: Path) -> Any:
    app = flask.Flask("ferry_flask_test")

    @app.get("/hello/<name>")
    def hello(name: str) -> Any:
        return {"hello": name, "q": flask.request.args.get("q")}

    @app.post("/upload")
    def upload() -> Any:
        file = flask.request.files["file"]
        data = file.read()
        return {
            "field": flask.request.form["field"],
            "name": file.filename,
            "size": len(data),
            "head": data[:5].decode(),
        }

    @app.get("/stream")
    def stream() -> Any:
        def numbers() -> Iterator[str]:
            for n in range(3):
                yield f"line {n}\n"

        return flask.Response(numbers(), mimetype="text/plain")

    @app.get("/file")
    def file() -> Any:
        return flask.send_file(tmp_path / "big.bin", mimetype="application/octet-stream")

    @app.post("/count")
    def count() -> Any:
        total = 0
        while piece := flask.request.stream.read(1 << 16):
            total += len(piece)
        return {"received": total}

    return app


def request(port: int, data: bytes) -> bytes:
    sock, reader = open_connection(port, timeout=30)
    with sock:
        sock.sendall(data)
        return reader.response()


def test_json_view(loop_name: str, tmp_path: Path) -> None:
    with serving(make_app(tmp_path), loop_name) as server:
        response = request(server.port, b"GET /hello/ferry?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    body = b'{"hello":"ferry","q":"1"}\n'
    assert response == (
        head(
            "HTTP/1.1 200 OK",
            "Content-Type: application/json",
            DATE,
            "Server: ferry",
            f"Content-Length: {len(body)}",
        )
        + body
    )


def test_form_upload(loop_name: str, tmp_path: Path) -> None:
    content = b"hello " * 50000
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="field"\r\n\r\n'
        b"value\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + content + b"\r\n--XyZ--\r\n"
    )
    head_bytes = (
        b"POST /upload HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with serving(make_app(tmp_path), loop_name) as server:
        response = request(server.port, head_bytes + body)
    assert response.endswith(
        b'\r\n\r\n{"field":"value","head":"hello","name":"a.txt","size":300000}\n'
    )


def test_streaming_response(loop_name: str, tmp_path: Path) -> None:
    with serving(make_app(tmp_path), loop_name) as server:
        response = request(server.port, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response == (
        head(
            "HTTP/1.1 200 OK",
            "Content-Type: text/plain; charset=utf-8",
            DATE,
            "Server: ferry",
            "Transfer-Encoding: chunked",
        )
        + b"7\r\nline 0\n\r\n7\r\nline 1\n\r\n7\r\nline 2\n\r\n0\r\n\r\n"
    )


def test_large_file_download(loop_name: str, tmp_path: Path) -> None:
    data = bytes(range(256)) * (64 * 1024)  # 16 MiB
    (tmp_path / "big.bin").write_bytes(data)
    with serving(make_app(tmp_path), loop_name) as server:
        response = request(server.port, b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
    head_bytes, _, body = response.partition(b"\r\n\r\n")
    assert b"\r\nContent-Length: 16777216\r\n" in head_bytes + b"\r\n"
    assert body == data


@pytest.mark.slow
def test_200_mb_upload_read_in_pieces_keeps_memory_bounded(loop_name: str, tmp_path: Path) -> None:
    piece = memoryview(b"u" * (1 << 20))
    with serving(make_app(tmp_path), loop_name) as server:
        tracemalloc.start()
        try:
            sock, reader = open_connection(server.port, timeout=60)
            with sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
                sock.sendall(b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % BIG)
                for _ in range(BIG // len(piece)):
                    sock.sendall(piece)
                response = reader.response()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert response.endswith(b'\r\n\r\n{"received":%d}\n' % BIG)
    assert peak < 16 * (1 << 20), f"peak traced memory {peak} bytes"
    assert threading.active_count() < 50
