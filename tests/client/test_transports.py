"""The transport seam: both clients calling an ASGI app in-process (ASGITransport) and
a function (MockTransport), with no sockets. Async tests run on asyncio and uvloop."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ferry import RemoteProtocolError, __version__
from ferry.asgi import Receive, Scope, Send
from ferry.client import (
    ASGITransport,
    AsyncClient,
    Client,
    MockRequest,
    MockResponse,
    MockTransport,
    ReadTimeout,
    Timeouts,
)
from ferry.client._decoders import accept_encoding
from ferry.client._models import URL

from ..support import echo_app, run, serving

QUICK = Timeouts(read=5.0)  # a transport that failed to stream fails the test, not hangs

ACCEPT_ENCODING = accept_encoding()  # what this installation decodes


def echo_summary(method: str, body: str, *extra: list[str]) -> dict[str, Any]:
    return {
        "method": method,
        "path": "/a b",
        "raw_path": "/a%20b",
        "query_string": "x=1",
        "http_version": "1.1",
        "headers": [
            ["host", "test.example"],
            ["user-agent", f"ferry/{__version__}"],
            ["accept", "*/*"],
            ["connection", "keep-alive"],
            ["accept-encoding", ACCEPT_ENCODING.decode()],
            ["x-one", "1"],
            *extra,  # the framing field, last as on the wire
        ],
        "body": body,
    }


ECHO_URL = "http://test.example/a%20b?x=1"


class Streamer:
    """An app that sends "first", waits for ``gate``, then sends "second": a reader gets
    "first" only if the transport streams."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.outcome = "running"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
            await self.gate.wait()
            await send({"type": "http.response.body", "body": b"second"})
            self.outcome = "done"
        except asyncio.CancelledError:
            self.outcome = "cancelled"
            raise


async def trailers_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
    await send({"type": "http.response.body", "body": b"data", "more_body": True})
    await send({"type": "http.response.body", "body": b""})
    await send({"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]})


async def gzip_app(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"Content-Encoding", b"gzip")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": gzip.compress(b"unzipped")})


async def failing_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise ValueError("the app broke")


async def silent_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})


class ScopeRecorder:
    """An app that keeps each http scope it is given and answers 413, empty."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        await send({"type": "http.response.start", "status": 413, "headers": []})
        await send({"type": "http.response.body", "body": b""})


# The scope and the response head, in-process as over a socket


def test_asgi_scope_is_the_servers() -> None:
    app = ScopeRecorder()
    with serving(app, lifespan="off") as server, Client() as network:
        port = server.port
        url = f"http://127.0.0.1:{port}/a%20b/%C3%A9?x=1&y"
        over_socket = network.post(url, headers={"X-One": "1"}, body=b"hello")
        with Client(transport=ASGITransport(app, client=("127.0.0.1", 5))) as inprocess:
            in_process = inprocess.post(url, headers={"X-One": "1"}, body=b"hello")
    # RFC 9110 §15.5.14 renamed 413; both take the phrase from ferry.http1.
    assert (over_socket.status, over_socket.reason) == (413, "Content Too Large")
    assert (in_process.status, in_process.reason) == (413, "Content Too Large")
    socket_scope, inprocess_scope = app.scopes
    assert inprocess_scope["client"] == ("127.0.0.1", 5)
    assert inprocess_scope["server"] == ("127.0.0.1", port)
    assert inprocess_scope["path"] == "/a b/é"
    assert list(inprocess_scope["extensions"]) == ["http.response.trailers"]
    assert "ferry.exchange" in socket_scope["extensions"]  # a connection's: not in-process
    assert list(inprocess_scope) == list(socket_scope)
    for scope in app.scopes:
        del scope["client"], scope["extensions"]
    assert inprocess_scope == socket_scope


# The async client


def test_asgi_echo(loop_name: str) -> None:
    async def main() -> None:
        async with AsyncClient(transport=ASGITransport(echo_app)) as client:
            response = await client.post(ECHO_URL, headers={"X-One": "1"}, body=b"hello")
        assert (response.status, response.reason) == (200, "OK")
        assert response.headers == [(b"content-type", b"application/json")]
        expected = echo_summary("POST", "hello", ["content-length", "5"])
        assert json.loads(response.content or b"") == expected

    run(loop_name, main())


def test_asgi_streamed_request_body(loop_name: str) -> None:
    async def pieces() -> AsyncIterator[bytes]:
        yield b"one,"
        yield b""
        yield b"two"

    async def main() -> None:
        async with AsyncClient(transport=ASGITransport(echo_app)) as client:
            response = await client.put(ECHO_URL, headers={"X-One": "1"}, body=pieces())
        expected = echo_summary("PUT", "one,two", ["transfer-encoding", "chunked"])
        assert json.loads(response.content or b"") == expected

    run(loop_name, main())


def test_asgi_response_streams(loop_name: str) -> None:
    app = Streamer()

    async def main() -> None:
        async with AsyncClient(transport=ASGITransport(app), timeouts=QUICK) as client:
            async with client.stream("GET", "http://test.example/") as response:
                assert response.status == 201
                pieces = response.iter_bytes()
                assert await anext(pieces) == b"first"
                app.gate.set()
                assert [piece async for piece in pieces] == [b"second"]
            assert response.kept_alive
        assert app.outcome == "done"

    run(loop_name, main())


def test_asgi_abandoned_body_cancels_the_app(loop_name: str) -> None:
    app = Streamer()

    async def main() -> None:
        async with (
            AsyncClient(transport=ASGITransport(app), timeouts=QUICK) as client,
            client.stream("GET", "http://test.example/") as response,
        ):
            assert await anext(response.iter_bytes()) == b"first"
        assert app.outcome == "cancelled"

    run(loop_name, main())


def test_asgi_trailers_and_gzip(loop_name: str) -> None:
    async def main() -> None:
        async with AsyncClient(transport=ASGITransport(trailers_app)) as client:
            assert (await client.get("http://test.example/")).content == b"data"
        async with AsyncClient(transport=ASGITransport(gzip_app)) as client:
            assert (await client.get("http://test.example/")).content == b"unzipped"

    run(loop_name, main())


def test_asgi_app_errors(loop_name: str) -> None:
    async def main() -> None:
        async with AsyncClient(transport=ASGITransport(failing_app)) as client:
            with pytest.raises(ValueError, match="the app broke"):
                await client.get("http://test.example/")
        async with AsyncClient(transport=ASGITransport(silent_app), timeouts=QUICK) as client:
            with pytest.raises(RemoteProtocolError, match="without a complete response"):
                await client.get("http://test.example/")

    run(loop_name, main())


def test_asgi_read_timeout(loop_name: str) -> None:
    app = Streamer()  # never released: the second piece does not come

    async def main() -> None:
        timeouts = Timeouts(read=0.05)
        async with AsyncClient(transport=ASGITransport(app), timeouts=timeouts) as client:
            with pytest.raises(ReadTimeout):
                await client.get("http://test.example/")
        assert app.outcome == "cancelled"

    run(loop_name, main())


def test_mock_transport_async(loop_name: str) -> None:
    seen: list[MockRequest] = []

    def handler(request: MockRequest) -> MockResponse:
        seen.append(request)
        return MockResponse(404, [("X-Mock", "yes")], b"nope", reason="Not Here")

    async def main() -> None:
        async with AsyncClient(transport=MockTransport(handler)) as client:
            response = await client.post("http://mock.test/p?q", body=b"data")
        assert (response.status, response.reason, response.content) == (404, "Not Here", b"nope")
        assert response.headers == [(b"x-mock", b"yes")]

    run(loop_name, main())
    assert seen == [
        MockRequest(
            "POST",
            URL.parse("http://mock.test/p?q"),
            [
                (b"Host", b"mock.test"),
                (b"User-Agent", b"ferry/" + __version__.encode()),
                (b"Accept", b"*/*"),
                (b"Connection", b"keep-alive"),
                (b"Accept-Encoding", ACCEPT_ENCODING),
                (b"Content-Length", b"4"),  # added as the network transport adds it
            ],
            b"data",
        )
    ]


# The blocking client (the ASGI app runs on the transport's private event loop)


def test_blocking_asgi_echo() -> None:
    with Client(transport=ASGITransport(echo_app)) as client:
        response = client.post(ECHO_URL, headers={"X-One": "1"}, body="hello")
    expected = echo_summary("POST", "hello", ["content-length", "5"])
    assert json.loads(response.content or b"") == expected


def test_blocking_asgi_streamed_request_body() -> None:
    def pieces() -> Iterator[bytes]:
        yield b"one,"
        yield b"two"

    with Client(transport=ASGITransport(echo_app)) as client:
        response = client.put(ECHO_URL, headers={"X-One": "1"}, body=pieces())
    expected = echo_summary("PUT", "one,two", ["transfer-encoding", "chunked"])
    assert json.loads(response.content or b"") == expected


def test_blocking_asgi_response_streams() -> None:
    app = Streamer()
    transport = ASGITransport(app)
    with Client(transport=transport, timeouts=QUICK) as client:
        with client.stream("GET", "http://test.example/") as response:
            pieces = response.iter_bytes()
            assert next(pieces) == b"first"
            app.gate.set()  # outside the loop: it wakes the app when the loop runs next
            assert list(pieces) == [b"second"]
        assert app.outcome == "done"
        with client.stream("GET", "http://test.example/") as response:
            assert response.status == 201  # the same private loop serves the next request
    assert transport._loop is None  # closed with the client


def test_blocking_asgi_abandoned_body_cancels_the_app() -> None:
    app = Streamer()
    with (
        Client(transport=ASGITransport(app), timeouts=QUICK) as client,
        client.stream("GET", "http://test.example/") as response,
    ):
        assert next(response.iter_bytes()) == b"first"
    assert app.outcome == "cancelled"


def test_blocking_asgi_app_error() -> None:
    with (
        Client(transport=ASGITransport(failing_app)) as client,
        pytest.raises(ValueError, match="the app broke"),
    ):
        client.get("http://test.example/")


def test_mock_transport_blocking() -> None:
    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(200, {"Content-Type": "text/plain"}, request.body.upper())

    with Client(transport=MockTransport(handler)) as client:
        response = client.post("http://mock.test/", body=iter([b"ab", b"cd"]))
    assert (response.status, response.reason, response.content) == (200, "", b"ABCD")
    assert response.headers == [(b"content-type", b"text/plain")]


def test_client_headers_replace_the_default_accept_encoding() -> None:
    """Before the fix, both the default and the client's field were sent."""
    seen: list[MockRequest] = []

    def handler(request: MockRequest) -> MockResponse:
        seen.append(request)
        return MockResponse()

    transport = MockTransport(handler)
    with Client(headers={"accept-encoding": "identity"}, transport=transport) as client:
        client.get("http://mock.test/")
    assert seen[0].headers == [
        (b"Host", b"mock.test"),
        (b"User-Agent", b"ferry/" + __version__.encode()),
        (b"Accept", b"*/*"),
        (b"Connection", b"keep-alive"),
        (b"accept-encoding", b"identity"),
    ]
