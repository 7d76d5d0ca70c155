"""A FastAPI WebSocket route served by Ferry, driven by the ``websockets`` client."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ..support import serving

pytest.importorskip("fastapi")
pytest.importorskip("wsproto")
pytest.importorskip("websockets")

import fastapi
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

Client = Callable[[ClientConnection], Awaitable[Any]]


class Disconnects:
    """The close codes the app saw when the client went away, and an event set on each."""

    def __init__(self) -> None:
        self.codes: list[int] = []
        self.seen = threading.Event()


def make_app(disconnects: Disconnects | None = None) -> Any:
    app = fastapi.FastAPI()

    @app.websocket("/listen")
    async def listen(websocket: fastapi.WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_bytes(await websocket.receive_bytes())
        except fastapi.WebSocketDisconnect as disconnect:
            if disconnects is not None:
                disconnects.codes.append(disconnect.code)
                disconnects.seen.set()

    @app.websocket("/ws/{room}")
    async def room(websocket: fastapi.WebSocket, room: str, token: str | None = None) -> None:
        if token != "secret":
            await websocket.close(code=1008, reason="no token")
            return
        await websocket.accept(subprotocol=websocket.scope["subprotocols"][0])
        await websocket.send_text(f"welcome to {room}")
        while True:
            message = await websocket.receive_text()
            if message == "json":
                payload = await websocket.receive_json()
                await websocket.send_json({"room": room, "got": payload})
            elif message == "close":
                await websocket.close(code=4000, reason="asked to close")
                return
            else:
                await websocket.send_text(message[::-1])

    return app


def talk(port: int, path: str, client: Client, **options: Any) -> Any:
    async def main() -> Any:
        async with connect(f"ws://127.0.0.1:{port}{path}", open_timeout=5, **options) as ws:
            return await client(ws)

    return asyncio.run(main())


def test_echo_text_json_and_close_code(loop_name: str) -> None:
    async def client(ws: ClientConnection) -> list[Any]:
        seen: list[Any] = [ws.subprotocol, await ws.recv()]
        await ws.send("ferry")
        seen.append(await ws.recv())
        await ws.send("json")
        await ws.send(json.dumps({"n": [1, 2], "s": "é"}))
        seen.append(json.loads(await ws.recv()))
        await ws.send("close")
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        seen.append((info.value.rcvd.code, info.value.rcvd.reason))
        return seen

    with serving(make_app(), loop_name) as server:
        seen = talk(server.port, "/ws/lobby?token=secret", client, subprotocols=["chat"])
    assert seen == [
        "chat",
        "welcome to lobby",
        "yrref",
        {"room": "lobby", "got": {"n": [1, 2], "s": "é"}},
        (4000, "asked to close"),
    ]


def test_close_before_accept_is_a_403(loop_name: str) -> None:
    """Closing before accepting denies the handshake: the client sees HTTP 403."""

    async def client(ws: ClientConnection) -> None:
        raise AssertionError("the handshake should have been denied")

    with serving(make_app(), loop_name) as server, pytest.raises(InvalidStatus) as info:
        talk(server.port, "/ws/lobby", client, subprotocols=["chat"])
    assert info.value.response.status_code == 403


def test_client_close_code_reaches_the_app(loop_name: str) -> None:
    disconnects = Disconnects()

    async def client(ws: ClientConnection) -> Any:
        await ws.send(b"\x01\x02")
        echoed = await ws.recv()
        await ws.close(code=4100, reason="client done")
        return echoed

    with serving(make_app(disconnects), loop_name) as server:
        echoed = talk(server.port, "/listen", client)
        assert disconnects.seen.wait(5)
    assert echoed == b"\x01\x02"
    assert disconnects.codes == [4100]
