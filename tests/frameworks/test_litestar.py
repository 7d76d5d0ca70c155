"""Litestar (ASGI 3) served by Ferry over 127.0.0.1: real responses and a WebSocket."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ..server._helpers import FIXED_DATE, head, open_connection
from ..support import serving

pytest.importorskip("litestar")
pytest.importorskip("wsproto")
pytest.importorskip("websockets")

from litestar import Litestar, Request, WebSocket, get, post, websocket, websocket_listener
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import UploadFile
from litestar.params import FromPath, FromQuery, JSONBody, MultipartBody
from litestar.response import Response, Stream
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

DATE = FIXED_DATE.decode().rstrip()

# Litestar resolves handler annotations from this module's globals, so the handlers live
# here; the background task reports through this event, set afresh by each test's app.
_background_done = threading.Event()


@get("/items/{item_id:int}")
async def item(item_id: FromPath[int], q: FromQuery[str | None] = None) -> dict[str, Any]:
    return {"item_id": item_id, "q": q}


@post("/echo")
async def echo(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    return {"got": data}


@get("/stream")
async def stream() -> Stream:
    async def parts() -> AsyncIterator[bytes]:
        for n in range(3):
            yield b"chunk %d\n" % n

    return Stream(parts(), media_type="text/plain")


@post("/upload")
async def upload(data: MultipartBody[dict[str, Any]]) -> dict[str, Any]:
    file: UploadFile = data["file"]
    content = await file.read()
    return {"field": data["field"], "name": file.filename, "size": len(content)}


@post("/later", status_code=202)
async def later() -> Response[dict[str, str]]:
    return Response({"status": "queued"}, background=BackgroundTask(_background_done.set))


@get("/peer")
async def peer(request: Request[Any, Any, Any]) -> str:
    return f"{request.method} {request.url.path} {request.query_params.get('a')}"


@websocket("/ws")
async def ws_echo(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    while True:
        message = await socket.receive_text()
        if message == "bye":
            await socket.close(code=4001, reason="bye")
            return
        await socket.send_text(f"echo: {message}")


@websocket_listener("/reverse", receive_mode="binary", send_mode="binary")
async def reverse(data: bytes) -> bytes:
    return data[::-1]


def make_app() -> Litestar:
    _background_done.clear()
    # logging_config=None: Litestar's default configures the root logger (level INFO, its
    # own handler) for the whole process, which would leak into every later test.
    return Litestar(
        route_handlers=[item, echo, stream, upload, later, peer, ws_echo, reverse],
        logging_config=None,
    )


def send(port: int, data: bytes) -> bytes:
    sock, reader = open_connection(port)
    with sock:
        sock.sendall(data)
        return reader.response()


def json_response(body: bytes, status: str = "200 OK") -> bytes:
    return (
        head(
            f"HTTP/1.1 {status}",
            "content-type: application/json",
            DATE,
            "Server: ferry",
            f"Content-Length: {len(body)}",
        )
        + body
    )


def test_path_and_query_params(loop_name: str) -> None:
    with serving(make_app(), loop_name) as server:
        response = send(server.port, b"GET /items/7?q=ferry HTTP/1.1\r\nHost: x\r\n\r\n")
        missing = send(server.port, b"GET /items/seven HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response == json_response(b'{"item_id":7,"q":"ferry"}')
    assert missing.startswith(b"HTTP/1.1 404 Not Found\r\n")


def test_json_body(loop_name: str) -> None:
    body = b'{"a": [1, 2], "b": "c"}'
    request = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with serving(make_app(), loop_name) as server:
        response = send(server.port, request)
    assert response == json_response(b'{"got":{"a":[1,2],"b":"c"}}', "201 Created")


def test_streaming_response(loop_name: str) -> None:
    with serving(make_app(), loop_name) as server:
        response = send(server.port, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response == (
        head(
            "HTTP/1.1 200 OK",
            "content-type: text/plain; charset=utf-8",
            DATE,
            "Server: ferry",
            "Transfer-Encoding: chunked",
        )
        + b"8\r\nchunk 0\n\r\n8\r\nchunk 1\n\r\n8\r\nchunk 2\n\r\n0\r\n\r\n"
    )


def test_multipart_upload(loop_name: str) -> None:
    content = bytes(range(256)) * 400
    body = (
        b'--B\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n'
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="z.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n--B--\r\n"
    )
    request = (
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    with serving(make_app(), loop_name) as server:
        response = send(server.port, request)
    assert response == json_response(
        b'{"field":"value","name":"z.bin","size":102400}', "201 Created"
    )


def test_background_task_runs_after_response(loop_name: str) -> None:
    with serving(make_app(), loop_name) as server:
        response = send(
            server.port, b"POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        )
        assert _background_done.wait(5)
    assert response == json_response(b'{"status":"queued"}', "202 Accepted")


def test_keep_alive_serves_several_requests(loop_name: str) -> None:
    with serving(make_app(), loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET /peer?a=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            first = reader.response()
            sock.sendall(b"GET /peer?a=2 HTTP/1.1\r\nHost: x\r\n\r\n")
            second = reader.response()
    assert first.endswith(b"\r\n\r\nGET /peer 1")
    assert second.endswith(b"\r\n\r\nGET /peer 2")


def test_websocket_echo_and_close_code(loop_name: str) -> None:
    async def client(port: int) -> tuple[list[Any], int, str]:
        async with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5) as ws:
            echoed = []
            for text in ("hello", "é" * 100):
                await ws.send(text)
                echoed.append(await ws.recv())
            await ws.send("bye")
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
        assert info.value.rcvd is not None
        return echoed, info.value.rcvd.code, info.value.rcvd.reason

    with serving(make_app(), loop_name) as server:
        result = asyncio.run(client(server.port))
    assert result == (["echo: hello", "echo: " + "é" * 100], 4001, "bye")


def test_websocket_listener_binary(loop_name: str) -> None:
    big = bytes(range(256)) * 300  # 76800 bytes: several reads, one message

    async def client(port: int) -> list[Any]:
        async with connect(f"ws://127.0.0.1:{port}/reverse", open_timeout=5) as ws:
            replies = []
            for data in (b"\x00abc\xff", big):
                await ws.send(data)
                replies.append(await ws.recv())
            return replies

    with serving(make_app(), loop_name) as server:
        replies = asyncio.run(client(server.port))
    assert replies == [b"\xffcba\x00", big[::-1]]
