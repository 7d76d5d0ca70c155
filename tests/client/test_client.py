"""The blocking client against a real Ferry server and scripted raw servers, over
loopback. The async client shares this logic (generated); test_async_client.py covers
what only it does (concurrency, cancellation) on asyncio and uvloop."""

from __future__ import annotations

import gzip
import json
import select
import socket
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferry import LocalProtocolError, RemoteProtocolError, __version__
from ferry.asgi import Receive, Scope, Send
from ferry.client import (
    Client,
    ConnectError,
    DecodingError,
    NetworkError,
    PoolLimits,
    PoolTimeout,
    ReadTimeout,
    Timeouts,
)
from ferry.client._decoders import accept_encoding

from ..support import ServerThread, echo_app, serving
from .rawserver import ScriptedServer, read_head, wait_closed

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

ACCEPT_ENCODING = accept_encoding()  # what this installation decodes
AGENT = f"ferry/{__version__}"  # the default User-Agent


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with serving(peer_app) as running:
        yield running


async def peer_app(scope: Scope, receive: Receive, send: Send) -> None:
    """echo_app, plus /peer: the client's port (which connection carried the request)."""
    if scope["type"] == "http" and scope["path"] == "/peer":
        body = str(scope["client"][1]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    await echo_app(scope, receive, send)


def test_get_round_trip(server: ServerThread) -> None:
    with Client() as client:
        response = client.get(f"http://127.0.0.1:{server.port}/a%20b?x=1")
    assert response.status == 200
    assert response.reason == "OK"
    assert response.header("Content-Type") == "application/json"
    seen = json.loads(response.content or b"")
    assert (seen["method"], seen["raw_path"], seen["query_string"]) == ("GET", "/a%20b", "x=1")
    assert seen["headers"] == [
        ["host", f"127.0.0.1:{server.port}"],
        ["user-agent", AGENT],
        ["accept", "*/*"],
        ["connection", "keep-alive"],
        ["accept-encoding", ACCEPT_ENCODING.decode()],
    ]


@pytest.mark.parametrize(
    ("body", "sent", "framing"),
    [
        (b"bytes", "bytes", ["content-length", "5"]),
        ("text \u00e9", "text \u00c3\u00a9", ["content-length", "7"]),
        (iter([b"it", b"", b"er"]), "iter", ["transfer-encoding", "chunked"]),
    ],
)
def test_request_bodies(server: ServerThread, body: Any, sent: str, framing: list[str]) -> None:
    with Client() as client:
        response = client.post(f"http://127.0.0.1:{server.port}/", body=body)
    seen = json.loads(response.content or b"")
    assert seen["body"] == sent  # the echo app shows bytes as latin-1
    assert framing in seen["headers"]


def test_file_body_is_sent_with_its_length(server: ServerThread, tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.write_bytes(b"x" * 200_000)
    with Client() as client, path.open("rb") as file:
        response = client.put(f"http://127.0.0.1:{server.port}/", body=file)
    seen = json.loads(response.content or b"")
    assert len(seen["body"]) == 200_000
    assert ["content-length", "200000"] in seen["headers"]


def test_connection_is_reused(server: ServerThread) -> None:
    url = f"http://127.0.0.1:{server.port}/peer"
    with Client() as client:
        ports = {client.get(url).content for _ in range(3)}
        assert client.pool.open_connections == client.pool.idle_connections == 1
    assert len(ports) == 1
    assert client.pool.open_connections == 0  # closing the client closed it


def test_server_keep_alive_timeout_is_honoured() -> None:
    """``Keep-Alive: timeout=1``: retired one second early, so not kept at all."""
    # Ferry says Keep-Alive only to a request that lists keep-alive in Connection.
    asks = {"Connection": "keep-alive"}
    with serving(peer_app, keep_alive_timeout=1) as running, Client() as client:
        url = f"http://127.0.0.1:{running.port}/peer"
        ports = {client.get(url, headers=asks).content for _ in range(2)}
        assert client.pool.open_connections == 0
    assert len(ports) == 2


def test_streamed_response(server: ServerThread) -> None:
    with Client() as client:
        with client.stream("GET", f"http://127.0.0.1:{server.port}/") as response:
            body = b"".join(response.iter_bytes())
            assert client.pool.idle_connections == 1  # released at the end of the body
        assert json.loads(body)["method"] == "GET"


def test_unread_body_closes_the_connection(server: ServerThread) -> None:
    with Client() as client:
        with client.stream("GET", f"http://127.0.0.1:{server.port}/"):
            assert client.pool.open_connections == 1
        assert client.pool.open_connections == 0


def test_pool_timeout_when_the_host_limit_is_reached(server: ServerThread) -> None:
    url = f"http://127.0.0.1:{server.port}/"
    limits = PoolLimits(max_per_host=1)
    with Client(limits=limits, timeouts=Timeouts(pool=0.05)) as client:
        with client.stream("GET", url), pytest.raises(PoolTimeout):
            client.get(url)
        assert client.get(url).status == 200  # the slot came back


def test_total_limit_evicts_an_idle_connection_to_another_host(server: ServerThread) -> None:
    with Client(limits=PoolLimits(max_connections=1)) as client:
        client.get(f"http://127.0.0.1:{server.port}/")
        client.get(f"http://localhost:{server.port}/")  # another origin
        assert client.pool.open_connections == 1


def test_stale_connection_retry() -> None:
    """RFC 9112 §9.3.1: the server closed a kept-alive connection as the next request
    arrived, before any response byte: an idempotent request is sent again, once."""
    requests: list[bytes] = []

    def handler(sock: socket.socket, index: int) -> None:
        requests.append(read_head(sock))
        sock.sendall(OK)
        if index == 0:  # the next request on it finds it closed
            requests.append(read_head(sock))
            return
        wait_closed(sock)

    with ScriptedServer(handler) as scripted, Client() as client:
        url = f"http://127.0.0.1:{scripted.port}/"
        assert client.get(url).content == b"ok"
        assert client.get(url).content == b"ok"
        assert scripted.accepted == 2
    assert len(requests) == 3


def test_no_retry_for_a_post() -> None:
    def handler(sock: socket.socket, index: int) -> None:
        read_head(sock)
        sock.sendall(OK)
        read_head(sock)

    with ScriptedServer(handler) as scripted, Client() as client:
        url = f"http://127.0.0.1:{scripted.port}/"
        client.post(url, body=b"1")
        with pytest.raises(NetworkError):
            client.post(url, body=b"2")
        assert client.pool.open_connections == 0
        assert scripted.accepted == 1


def test_connection_closed_while_idle_is_not_used() -> None:
    def handler(sock: socket.socket, index: int) -> None:
        read_head(sock)
        sock.sendall(OK)
        if index == 0:
            sock.shutdown(socket.SHUT_WR)
        wait_closed(sock)

    with ScriptedServer(handler) as scripted, Client() as client:
        url = f"http://127.0.0.1:{scripted.port}/"
        client.get(url)
        # Wait (bounded) until the server's FIN has reached the idle connection.
        [idle] = client.pool._idle[("http", "127.0.0.1", scripted.port)]
        assert _wait_readable(idle.stream)
        assert client.get(url).content == b"ok"
        assert scripted.accepted == 2


def _wait_readable(stream: Any) -> bool:
    return bool(select.select([stream._sock], [], [], 5)[0])


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", RemoteProtocolError),
        (b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", ReadTimeout),
        (b"", ReadTimeout),
    ],
)
def test_no_leaked_connection_after_errors(reply: bytes, error: type[Exception]) -> None:
    def handler(sock: socket.socket, index: int) -> None:
        read_head(sock)
        sock.sendall(reply)
        if error is RemoteProtocolError:
            sock.shutdown(socket.SHUT_WR)
        wait_closed(sock)

    with ScriptedServer(handler) as scripted, Client(timeouts=Timeouts(read=0.1)) as client:
        with pytest.raises(error):
            client.get(f"http://127.0.0.1:{scripted.port}/")
        assert client.pool.open_connections == 0


def test_connect_error() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    with Client() as client, pytest.raises(ConnectError):
        client.get(f"http://127.0.0.1:{port}/")
    assert client.pool.open_connections == 0


# (A user:password@ in the URL is Basic credentials now, as in browsers and httpx.)
@pytest.mark.parametrize("url", ["ftp://x/", "http:///nohost", "/relative"])
def test_invalid_urls(url: str) -> None:
    with Client() as client, pytest.raises(LocalProtocolError):
        client.get(url)


def serve_body(body: bytes, encoding: bytes) -> ScriptedServer:
    def handler(sock: socket.socket, index: int) -> None:
        read_head(sock)
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n%s"
            % (encoding, len(body), body)
        )
        wait_closed(sock)

    return ScriptedServer(handler)


@pytest.mark.parametrize(
    ("body", "encoding"),
    [(gzip.compress(b"hello " * 1000), b"gzip"), (zlib.compress(b"hello " * 1000), b"deflate")],
)
def test_content_decoding(body: bytes, encoding: bytes) -> None:
    with serve_body(body, encoding) as scripted, Client() as client:
        response = client.get(f"http://127.0.0.1:{scripted.port}/")
    assert response.content == b"hello " * 1000


def test_decompression_bomb_is_stopped() -> None:
    bomb = gzip.compress(b"\0" * (20 << 20))  # 20 MiB of zeros in about 20 KiB
    with serve_body(bomb, b"gzip") as scripted, Client(max_decompression_ratio=10) as client:
        with pytest.raises(DecodingError):
            client.get(f"http://127.0.0.1:{scripted.port}/")
        assert client.pool.open_connections == 0


def test_corrupt_gzip() -> None:
    with (
        serve_body(b"not gzip", b"gzip") as scripted,
        Client() as client,
        pytest.raises(DecodingError),
    ):
        client.get(f"http://127.0.0.1:{scripted.port}/")


def test_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "ferry.sock")
    with ServerThread(echo_app, uds=path), Client(uds=path) as client:
        response = client.get("http://ferry.local/over-uds")
    seen = json.loads(response.content or b"")
    assert seen["path"] == "/over-uds"
    assert ["host", "ferry.local"] in seen["headers"]


def expecting_server(answer_continue: bool | None) -> tuple[ScriptedServer, list[bytes]]:
    """A server for ``Expect: 100-continue``: it sends 100 (True), a final 413 at once
    (False) or nothing (None) after the head; the list gets the head, then the body."""
    seen: list[bytes] = []

    def handler(sock: socket.socket, index: int) -> None:
        seen.append(read_head(sock))
        if answer_continue is False:
            sock.sendall(b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)
        elif answer_continue:
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = b""
        while len(body) < 4 and (data := sock.recv(4 - len(body))):
            body += data
        seen.append(body)
        if answer_continue is not False:
            sock.sendall(OK)
        wait_closed(sock)

    return ScriptedServer(handler), seen


@pytest.mark.parametrize(("answer", "status", "body"), [(True, 200, b"data"), (None, 200, b"data")])
def test_expect_continue(answer: bool | None, status: int, body: bytes) -> None:
    scripted, seen = expecting_server(answer)
    # A short read timeout also bounds the wait for 100 when the server sends none.
    client = Client(expect_continue_above=4, timeouts=Timeouts(read=0.05 if answer is None else 5))
    with scripted, client:
        response = client.post(f"http://127.0.0.1:{scripted.port}/up", body=b"data")
        assert (response.status, response.content) == (status, b"ok")
    assert seen == [
        b"POST /up HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: %s\r\nAccept: */*\r\n"
        b"Connection: keep-alive\r\n"
        b"Accept-Encoding: %s\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        % (scripted.port, AGENT.encode(), ACCEPT_ENCODING),
        body,
    ]


def test_expect_continue_refused_before_the_body() -> None:
    scripted, seen = expecting_server(False)
    with scripted, Client(expect_continue_above=1) as client:
        response = client.post(f"http://127.0.0.1:{scripted.port}/up", body=b"data")
        assert response.status == 413
        assert client.pool.open_connections == 0
    assert seen[1] == b""  # the body was never sent


def test_small_bodies_do_not_expect(server: ServerThread) -> None:
    with Client(expect_continue_above=100) as client:
        echoed = json.loads(
            client.post(f"http://127.0.0.1:{server.port}/", body=b"x").content or b""
        )
    names = [name for name, _ in echoed["headers"]]
    assert names == [
        "host",
        "user-agent",
        "accept",
        "connection",
        "accept-encoding",
        "content-length",
    ]


def test_expect_continue_with_a_ferry_server(server: ServerThread) -> None:
    with Client(expect_continue_above=1) as client:
        url = f"http://127.0.0.1:{server.port}/"
        echoed = json.loads(client.put(url, body=iter([b"str", b"eam"])).content or b"")
    assert echoed["body"] == "stream"
    assert ["expect", "100-continue"] in echoed["headers"]
