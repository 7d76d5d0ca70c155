"""FastAPI and Starlette (ASGI 3) served by Ferry over 127.0.0.1: real responses."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ..server._helpers import FIXED_DATE, head, open_connection
from ..support import serving

fastapi = pytest.importorskip("fastapi")
pytest.importorskip("python_multipart")
responses = pytest.importorskip("starlette.responses")
routing = pytest.importorskip("starlette.routing")
applications = pytest.importorskip("starlette.applications")

DATE = FIXED_DATE.decode().rstrip()


def make_fastapi(background_done: threading.Event) -> Any:
    app = fastapi.FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int, q: str | None = None) -> dict[str, Any]:
        return {"item_id": item_id, "q": q}

    @app.post("/echo")
    async def echo(payload: dict[str, Any]) -> dict[str, Any]:
        return {"got": payload}

    @app.get("/stream")
    async def stream() -> Any:
        async def parts() -> AsyncIterator[bytes]:
            for n in range(3):
                yield b"chunk %d\n" % n

        return responses.StreamingResponse(parts(), media_type="text/plain")

    @app.post("/later")
    async def later(tasks: fastapi.BackgroundTasks) -> dict[str, str]:
        tasks.add_task(background_done.set)
        return {"status": "queued"}

    @app.post("/upload")
    async def upload(file: fastapi.UploadFile) -> dict[str, Any]:
        data = await file.read()
        return {"name": file.filename, "size": len(data)}

    return app


def send(port: int, data: bytes) -> bytes:
    sock, reader = open_connection(port)
    with sock:
        sock.sendall(data)
        return reader.response()


def json_response(body: bytes) -> bytes:
    return (
        head(
            "HTTP/1.1 200 OK",
            "content-type: application/json",
            DATE,
            "Server: ferry",
            f"Content-Length: {len(body)}",
        )
        + body
    )


def test_fastapi_path_and_query(loop_name: str) -> None:
    with serving(make_fastapi(threading.Event()), loop_name) as server:
        response = send(server.port, b"GET /items/42?q=ferry HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response == json_response(b'{"item_id":42,"q":"ferry"}')


def test_fastapi_json_body(loop_name: str) -> None:
    body = b'{"a": [1, 2], "b": "c"}'
    request = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with serving(make_fastapi(threading.Event()), loop_name) as server:
        response = send(server.port, request)
    assert response == json_response(b'{"got":{"a":[1,2],"b":"c"}}')


def test_fastapi_streaming(loop_name: str) -> None:
    with serving(make_fastapi(threading.Event()), loop_name) as server:
        response = send(server.port, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.endswith(
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"8\r\nchunk 0\n\r\n8\r\nchunk 1\n\r\n8\r\nchunk 2\n\r\n0\r\n\r\n"
    )


def test_fastapi_background_task(loop_name: str) -> None:
    done = threading.Event()
    with serving(make_fastapi(done), loop_name) as server:
        response = send(
            server.port, b"POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        )
        assert done.wait(5)
    assert response == json_response(b'{"status":"queued"}')


def test_fastapi_file_upload(loop_name: str) -> None:
    content = b"z" * 100000
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="z.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n--B--\r\n"
    )
    request = (
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    with serving(make_fastapi(threading.Event()), loop_name) as server:
        response = send(server.port, request)
    assert response == json_response(b'{"name":"z.bin","size":100000}')


def test_starlette_route_and_root_path(loop_name: str) -> None:
    async def hello(request: Any) -> Any:
        return responses.PlainTextResponse(
            f"{request.url.path} {request.path_params['name']} {request.scope['root_path']}"
        )

    app = applications.Starlette(routes=[routing.Route("/hi/{name}", hello)])
    with serving(app, loop_name, root_path="/api") as server:
        response = send(server.port, b"GET /hi/you HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.endswith(b"\r\n\r\n/api/hi/you you /api")


def endless_stream_app(chunks_sent: threading.Event) -> Any:
    """A StreamingResponse that would go on for 640 MB: the client leaves first."""

    async def parts() -> AsyncIterator[bytes]:
        for _ in range(10_000):
            yield b"x" * 65536
            chunks_sent.set()

    async def stream(request: Any) -> Any:
        return responses.StreamingResponse(parts(), media_type="application/octet-stream")

    return applications.Starlette(routes=[routing.Route("/", stream)])


def test_a_client_leaving_a_streaming_response_is_one_debug_line(
    loop_name: str, error_log: list[logging.LogRecord]
) -> None:
    """Issue 16, defect 6: Starlette turns the send's ClientDisconnected into its own
    ClientDisconnect; a client going away is normal, logged once at debug, not ERROR."""
    logger = logging.getLogger("ferry.error")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    chunks_sent = threading.Event()
    try:
        with serving(endless_stream_app(chunks_sent), loop_name) as server:
            sock, reader = open_connection(server.port)
            with sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                reader.until(b"\r\n\r\n")
                assert chunks_sent.wait(5)
            # The app's end is logged when the server sees the close: wait for that line.
            deadline = time.monotonic() + 5
            while not app_lines(error_log) and time.monotonic() < deadline:
                time.sleep(0.01)
        lines = app_lines(error_log)
    finally:
        logger.setLevel(level)
    assert [(r.levelno, r.getMessage().split(":")[0]) for r in lines] == [
        (logging.DEBUG, "the client left before the response was sent")
    ]
    assert not [r for r in error_log if r.levelno >= logging.WARNING]


def app_lines(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """What the server said about the application's end (its failure or the client's)."""
    wanted = ("the client left", "exception in ASGI application")
    return [r for r in records if r.getMessage().startswith(wanted)]
