"""Quart (ASGI 3) served by Ferry over 127.0.0.1: real responses and a WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ..server._helpers import FIXED_DATE, head, open_connection
from ..support import serving

pytest.importorskip("quart")
pytest.importorskip("wsproto")
pytest.importorskip("websockets")

import quart
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

DATE = FIXED_DATE.decode().rstrip()


def make_app() -> Any:
    app = quart.Quart("ferry_quart_test")

    @app.get("/hello/<name>")
    async def hello(name: str) -> Any:
        return {"hello": name, "q": quart.request.args.get("q")}

    @app.post("/json")
    async def json_echo() -> Any:
        return {"got": await quart.request.get_json()}

    @app.post("/form")
    async def form() -> Any:
        data = await quart.request.form
        return f"{data['name']} is {data['age']}"

    @app.get("/stream")
    async def stream() -> Any:
        async def lines() -> AsyncIterator[bytes]:
            for n in range(3):
                yield b"line %d\n" % n

        return lines(), 200, {"Content-Type": "text/plain"}

    @app.websocket("/ws")
    async def ws() -> None:
        while True:
            message = await quart.websocket.receive()
            if message == "bye":
                await quart.websocket.close(4002, "bye")
                return
            await quart.websocket.send(message)

    @app.websocket("/denied")
    async def denied() -> Any:
        """Answering before accepting uses the ``websocket.http.response`` extension."""
        return "go away", 401, {"X-Why": "no token"}

    return app


def send(port: int, data: bytes) -> bytes:
    sock, reader = open_connection(port)
    with sock:
        sock.sendall(data)
        return reader.response()


def response(content_type: str, body: bytes) -> bytes:
    return (
        head(
            "HTTP/1.1 200 OK",
            f"content-type: {content_type}",
            DATE,
            "Server: ferry",
            f"Content-Length: {len(body)}",
        )
        + body
    )


def test_json_route(loop_name: str) -> None:
    with serving(make_app(), loop_name) as server:
        reply = send(server.port, b"GET /hello/ferry?q=3 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply == response("application/json", b'{"hello":"ferry","q":"3"}\n')


def test_json_body(loop_name: str) -> None:
    body = b'{"a": [1, 2], "b": null}'
    request = (
        b"POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with serving(make_app(), loop_name) as server:
        reply = send(server.port, request)
    assert reply == response("application/json", b'{"got":{"a":[1,2],"b":null}}\n')


def test_form_post(loop_name: str) -> None:
    form = b"name=J%C3%BCrgen+F&age=42"
    request = (
        b"POST /form HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(form), form)
    )
    with serving(make_app(), loop_name) as server:
        reply = send(server.port, request)
    assert reply == response("text/html; charset=utf-8", "Jürgen F is 42".encode())


def test_streaming_response(loop_name: str) -> None:
    with serving(make_app(), loop_name) as server:
        reply = send(server.port, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply == (
        head(
            "HTTP/1.1 200 OK",
            "content-type: text/plain",
            DATE,
            "Server: ferry",
            "Transfer-Encoding: chunked",
        )
        + b"7\r\nline 0\n\r\n7\r\nline 1\n\r\n7\r\nline 2\n\r\n0\r\n\r\n"
    )


def test_websocket_echo_and_close_code(loop_name: str) -> None:
    async def client(port: int) -> tuple[list[Any], int, str]:
        async with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5) as ws:
            echoed = []
            for message in ("hello", b"\x00\xff", "ü" * 200):
                await ws.send(message)
                echoed.append(await ws.recv())
            await ws.send("bye")
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
        assert info.value.rcvd is not None
        return echoed, info.value.rcvd.code, info.value.rcvd.reason

    with serving(make_app(), loop_name) as server:
        result = asyncio.run(client(server.port))
    assert result == (["hello", b"\x00\xff", "ü" * 200], 4002, "bye")


def test_websocket_denied_with_an_http_response(loop_name: str) -> None:
    async def client(port: int) -> None:
        async with connect(f"ws://127.0.0.1:{port}/denied", open_timeout=5):
            raise AssertionError("the handshake should have been denied")

    with serving(make_app(), loop_name) as server, pytest.raises(InvalidStatus) as info:
        asyncio.run(client(server.port))
    denial = info.value.response
    assert denial.status_code == 401
    assert denial.headers["X-Why"] == "no token"
    assert denial.headers["Content-Type"] == "text/html; charset=utf-8"
    assert denial.headers["Connection"] == "close"
    assert denial.body == b"go away"
