"""WebSocket over real loopback sockets, driven by the ``websockets`` client library."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("websockets")
pytest.importorskip("websockets")

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ..support import connect as connect_socket
from ..support import echo_app, exchange, read_until_close, serving
from ._app import PAGE, Seen, make_app

Client = Callable[[ClientConnection], Awaitable[Any]]


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def server(loop_name: str, seen: Seen) -> Iterator[int]:
    with serving(make_app(seen), loop_name, ws_max_size=1024) as running:
        yield running.port


def talk(port: int, path: str, client: Client, **options: Any) -> Any:
    """Open a WebSocket to ``path``, run ``client`` on it and return what it returns."""

    async def main() -> Any:
        async with connect(f"ws://127.0.0.1:{port}{path}", open_timeout=5, **options) as ws:
            return await client(ws)

    return asyncio.run(main())


def test_echo_text_and_binary(server: int) -> None:
    async def client(ws: ClientConnection) -> list[Any]:
        await ws.send("hello, ferry")
        text = await ws.recv()
        await ws.send(b"\x00\x01\xff")
        data = await ws.recv()
        await ws.send("é" * 300)  # several frames' worth after UTF-8, still under 1024
        return [text, data, await ws.recv()]

    assert talk(server, "/echo", client) == ["hello, ferry", b"\x00\x01\xff", "é" * 300]


def test_fragmented_message_is_reassembled(server: int) -> None:
    async def client(ws: ClientConnection) -> Any:
        await ws.send(["frag", "mented"])
        return await ws.recv()

    assert talk(server, "/echo", client) == "fragmented"


def test_scope(server: int) -> None:
    async def client(ws: ClientConnection) -> Any:
        await ws.send("scope")
        return json.loads(await ws.recv())

    summary = talk(server, "/echo%20x?a=1", client, subprotocols=["other", "chat"])
    assert summary == {
        "type": "websocket",
        "scheme": "ws",
        "path": "/echo x",
        "raw_path": "/echo%20x",
        "query_string": "a=1",
        "subprotocols": ["other", "chat"],
        "extensions": {"websocket.http.response": {}},
    }


def test_subprotocol_and_accept_headers(server: int) -> None:
    async def client(ws: ClientConnection) -> Any:
        assert ws.response is not None
        return ws.subprotocol, ws.response.headers.get("x-ferry")

    assert talk(server, "/echo", client, subprotocols=["other", "chat"]) == ("chat", "yes")
    assert talk(server, "/echo", client) == (None, "yes")


def test_permessage_deflate_negotiated(server: int) -> None:
    async def client(ws: ClientConnection) -> Any:
        assert ws.response is not None
        await ws.send("a" * 1000)
        return ws.response.headers.get("sec-websocket-extensions"), await ws.recv()

    extensions, echoed = talk(server, "/echo", client)
    assert extensions.startswith("permessage-deflate")
    assert echoed == "a" * 1000
    extensions, echoed = talk(server, "/echo", client, compression=None)
    assert (extensions, echoed) == (None, "a" * 1000)


def test_message_over_the_limit_closes_1009(server: int, seen: Seen) -> None:
    async def client(ws: ClientConnection) -> Any:
        await ws.send(b"x" * 1025)
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        return info.value.rcvd.code if info.value.rcvd else None

    assert talk(server, "/echo", client, compression=None) == 1009
    assert seen.disconnected.wait(5)
    assert seen.disconnects[0]["code"] == 1009


def test_default_limit_is_16_mib(loop_name: str) -> None:
    seen = Seen()

    async def client(ws: ClientConnection) -> Any:
        await ws.send(b"x" * LIMIT)  # exactly the limit: accepted
        return len(await ws.recv())

    # One byte more, in one binary frame (masked with a zero key): RFC 6455 §7.1.7, the
    # connection fails at the frame's header with close 1009, then the server half-closes
    # (its FIN, not a reset, though the frame's payload is still arriving).
    over = b"\x82\xff" + (LIMIT + 1).to_bytes(8, "big") + bytes(4) + b"x" * (LIMIT + 1)
    with serving(make_app(seen), loop_name) as running:
        assert talk(running.port, "/echo", client, compression=None, max_size=None) == LIMIT
        assert seen.disconnected.wait(5)
        seen.disconnected.clear()
        with open_raw(running.port) as sock:
            sock.sendall(over)
            answer = read_until_close(sock)
    assert answer[:4] == b"\x88" + bytes([len(answer) - 2]) + b"\x03\xf1"  # 1009
    assert seen.disconnected.wait(5)
    assert [message["code"] for message in seen.disconnects] == [1000, 1009]


def test_app_closes_with_code_and_reason(server: int) -> None:
    async def client(ws: ClientConnection) -> Any:
        await ws.send("close:4000:bye now")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        return ws.close_code, ws.close_reason

    assert talk(server, "/echo", client) == (4000, "bye now")


@pytest.mark.parametrize("code", [1000, 4001])
def test_client_closes_with_code_and_reason(server: int, seen: Seen, code: int) -> None:
    async def client(ws: ClientConnection) -> Any:
        await ws.close(code, "done")
        return ws.close_code, ws.close_reason

    assert talk(server, "/echo", client) == (code, "done")  # the server echoes the code
    assert seen.disconnected.wait(5)
    assert seen.disconnects == [{"type": "websocket.disconnect", "code": code, "reason": "done"}]
    assert type(seen.disconnects[0]["code"]) is int


def test_ping_pong(server: int) -> None:
    async def client(ws: ClientConnection) -> Any:
        latency = await ws.ping(b"are you there")
        await asyncio.wait_for(latency, 5)
        await ws.send("still open")
        return await ws.recv()

    assert talk(server, "/echo", client) == "still open"


@pytest.mark.parametrize(("command", "code"), [("raise", 1011), ("both", 1011), ("return", 1000)])
def test_app_ending_after_accept(server: int, command: str, code: int) -> None:
    async def client(ws: ClientConnection) -> Any:
        await ws.send(command)
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        return info.value.rcvd.code if info.value.rcvd else None

    assert talk(server, "/echo", client) == code


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/deny", 401, b"nope"),
        ("/reject", 403, b"403 Forbidden: the application rejected the WebSocket\n"),
        ("/fail", 500, b"500 Internal Server Error: Internal Server Error\n"),
        ("/return", 500, b"500 Internal Server Error: Internal Server Error\n"),
        ("/send-first", 500, b"500 Internal Server Error: Internal Server Error\n"),
        ("/start-only", 500, b"500 Internal Server Error: Internal Server Error\n"),
    ],
)
def test_denied_before_accept(server: int, path: str, status: int, body: bytes) -> None:
    async def client(ws: ClientConnection) -> None:
        raise AssertionError("the handshake should have failed")

    with pytest.raises(InvalidStatus) as info:
        talk(server, path, client)
    assert info.value.response.status_code == status
    assert info.value.response.body == body


LIMIT = 16 * 1024 * 1024  # the default --ws-max-size

UPGRADE = (
    b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
)


def test_send_after_close_raises_client_disconnected(server: int, seen: Seen) -> None:
    async def client(ws: ClientConnection) -> Any:
        await ws.send("send-after-close")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        return ws.close_code

    assert talk(server, "/echo", client) == 4002
    assert seen.disconnected.wait(5)
    assert [type(error).__name__ for error in seen.errors] == ["ClientDisconnected"]


@pytest.mark.parametrize("key", [b"short", b"AAAA", b"not base64!", b"dGhlIHNhbXBsZSBub25jZQ==, x"])
def test_invalid_handshake_is_400(server: int, key: bytes) -> None:
    response = exchange(server, UPGRADE + b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert response.endswith(b"\r\n\r\n400 Bad Request: invalid Sec-WebSocket-Key\n")


def test_frames_sent_with_the_request_are_read_after_the_accept(server: int) -> None:
    # A masked text frame "hi" right behind the request, before the 101 arrives (zero
    # masks keep the bytes readable; RFC 6455 §5.3 allows any key), then a close (1000).
    key = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    expected = (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"upgrade: websocket\r\n"
        b"sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"  # RFC 6455 §1.3's example
        b"x-ferry: yes\r\n"
        b"connection: Upgrade\r\n"
        b"\r\n"
        b"\x81\x02hi"  # the echo, unmasked
    )
    with connect_socket(server) as sock:
        sock.sendall(UPGRADE + key + b"\r\n" + b"\x81\x82\x00\x00\x00\x00hi")
        received = b""
        while len(received) < len(expected):
            received += sock.recv(65536)
        assert received == expected
        sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")
        assert read_until_close(sock) == b"\x88\x02\x03\xe8"  # the answer, echoing 1000


def test_upgrade_without_the_ws_extra_is_plain_http(
    loop_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "websockets", None)  # import websockets now fails
    key = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    with serving(echo_app, loop_name) as running:
        response = exchange(running.port, UPGRADE + key)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(body)["path"] == "/echo"


def open_raw(port: int) -> Any:
    """A raw socket past the handshake (the 101 read and checked)."""
    sock = connect_socket(port)
    sock.sendall(UPGRADE + b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    return sock


def recv_exactly(sock: Any, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "closed early"
        data += chunk
    return data


@pytest.fixture
def fast_keepalive(monkeypatch: pytest.MonkeyPatch) -> None:
    import functools

    import ferry.websocket

    settings = functools.partial(
        ferry.websocket.WebSocketSettings, ping_interval=0.01, ping_timeout=0.05
    )
    monkeypatch.setattr(ferry.websocket, "WebSocketSettings", settings)


@pytest.mark.usefixtures("fast_keepalive")
def test_keepalive_ping_answered_then_unanswered(server: int, seen: Seen) -> None:
    with open_raw(server) as sock:
        assert recv_exactly(sock, 7) == b"\x89\x05ferry"  # the server's ping
        sock.sendall(b"\x8a\x85\x00\x00\x00\x00ferry")  # our pong (masked, zero key)
        assert recv_exactly(sock, 7) == b"\x89\x05ferry"  # so the next ping comes
        # Unanswered: close 1011 (RFC 6455 §7.4.1), then the connection ends.
        assert read_until_close(sock) == b"\x88\x18\x03\xf3keepalive ping timeout"
    assert seen.disconnected.wait(5)
    assert seen.disconnects[0]["code"] == 1011


def test_pre_rfc6455_handshake_is_plain_http(server: int) -> None:
    # hixie-76 (Sec-WebSocket-Key1/Key2, no version): its Upgrade is ignored.
    request = (
        b"GET /page HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n"
        b"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n"
        b"\r\n"
    )
    response = exchange(server, request)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.endswith(b"\r\n\r\n" + PAGE)


def test_wrong_version_is_426_with_the_version_spoken(server: int) -> None:
    # RFC 6455 §4.2.2: 426 Upgrade Required, Sec-WebSocket-Version naming what we speak.
    request = UPGRADE.replace(b"Version: 13", b"Version: 8")
    response = exchange(server, request + b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nsec-websocket-version: 13\r\n" in head.lower() + b"\r\n"
    assert body == b"426 Upgrade Required: Sec-WebSocket-Version must be 13\n"


def test_bad_key_is_400(server: int) -> None:
    response = exchange(server, UPGRADE + b"Sec-WebSocket-Key: c2hvcnQ=\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert response.endswith(b"\r\n\r\n400 Bad Request: invalid Sec-WebSocket-Key\n")


def test_server_shutdown_closes_1001(loop_name: str) -> None:
    seen = Seen()
    with serving(make_app(seen), loop_name) as running, open_raw(running.port) as sock:
        assert running.loop is not None
        assert running.server is not None
        running.loop.call_soon_threadsafe(running.server.should_exit.set)
        assert recv_exactly(sock, 19) == b"\x88\x11\x03\xe9server shutdown"
        sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe9")  # our answer
        assert read_until_close(sock) == b""
    assert seen.disconnects[0]["code"] == 1001


def test_unmasked_client_frame_fails_the_connection_1002(server: int, seen: Seen) -> None:
    with open_raw(server) as sock:
        sock.sendall(b"\x81\x02hi")  # RFC 6455 §5.1: a client MUST mask its frames
        answer = read_until_close(sock)
    assert answer[:4] == b"\x88" + bytes([len(answer) - 2]) + b"\x03\xea"  # 1002
    assert seen.disconnected.wait(5)
    assert seen.disconnects[0]["code"] == 1002


def test_client_eof_without_close_frame_is_1006(server: int, seen: Seen) -> None:
    with open_raw(server) as sock:
        sock.shutdown(socket.SHUT_WR)
        assert read_until_close(sock) == b""
    assert seen.disconnected.wait(5)
    assert seen.disconnects[0]["code"] == 1006


def test_bytes_before_the_accept_are_bounded(loop_name: str) -> None:
    """A client that floods frames while the app has not accepted yet is not buffered:
    reading pauses at 64 KiB and resumes with the accept."""
    import threading

    from ..server._helpers import on_server_loop

    release = threading.Event()
    connected = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        connected.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            if message.get("text") == "last":
                await send({"type": "websocket.send", "text": "done"})

    frame = b"\x81\xfe\xff\xff\x00\x00\x00\x00" + b"x" * 0xFFFF  # masked text, 64 KiB - 1
    key = b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    with serving(app, loop_name) as running, connect_socket(running.port) as sock:
        sock.setblocking(False)
        sock.sendall(UPGRADE + key + b"\r\n")
        # The connection must be the server's (accepted, handshake read) before the
        # flood: bytes sent before the accept sit in the kernel, not in the server.
        assert connected.wait(5), "the app never saw websocket.connect"
        sent = 0
        flood = frame * 512  # 32 MiB: more than loopback's socket buffers hold
        # Push until the kernel buffers are full: the server must stop reading.
        while sent < len(flood):
            try:
                sent += sock.send(flood[sent : sent + 65536])
            except BlockingIOError:
                break

        def buffered() -> int:
            protocols = list(running.server.state.connections)  # type: ignore[union-attr]
            return max(p.conn.buffered_size for p in protocols)

        assert sent < len(flood), "the server read everything before the accept"
        assert on_server_loop(running, buffered) < 1 << 20
        release.set()
        sock.setblocking(True)
        sock.sendall(flood[sent:] + b"\x81\x84\x00\x00\x00\x00last")
        received = b""
        while not received.endswith(b"\x81\x04done"):
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    assert received.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")


def test_text_that_is_not_utf8_fails_the_connection_1007(server: int, seen: Seen) -> None:
    with open_raw(server) as sock:
        # RFC 6455 §8.1: a text message must be UTF-8; b"\xc3(" is not (zero mask key).
        sock.sendall(b"\x81\x82\x00\x00\x00\x00\xc3(")
        answer = read_until_close(sock)
    assert answer == b"\x88\x21\x03\xefinvalid UTF-8 in a text message"
    assert seen.disconnected.wait(5)
    assert seen.disconnects[0]["code"] == 1007
