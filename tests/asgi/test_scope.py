"""The ASGI HTTP connection scope (ASGI HTTP spec 2.4), key by key, as an app receives it
from a request sent over a real socket."""

from __future__ import annotations

from typing import Any

import pytest

from ferry.asgi import Receive, Scope, Send

from ..server._helpers import Recorder, open_connection
from ..support import serving


def scope_of(request: bytes, loop_name: str, **options: Any) -> tuple[Scope, int, int]:
    """The scope the app got for ``request``; and the client's and server's ports."""
    app = Recorder()
    with serving(app, loop_name, **options) as server:
        server_port = server.port
        sock, reader = open_connection(server_port)
        with sock:
            sock.sendall(request)
            reader.response()
            client_port = sock.getsockname()[1]
    [scope] = app.scopes
    return scope, client_port, server_port


def without_exchange(scope: Scope) -> dict[str, Any]:
    """The scope with Ferry's own extension (which holds a bound method) taken out."""
    plain = dict(scope)
    extensions = dict(plain.pop("extensions"))
    exchange = extensions.pop("ferry.exchange")
    assert set(exchange) == {
        "requests_on_connection",
        "keep_alive",
        "response_head",
        "head_start",
        "head_end",
    }
    plain["extensions"] = extensions
    return plain


def test_scope_is_exact(loop_name: str) -> None:
    request = (
        b"GET /caf%C3%A9/a%2Fb/%7Euser?x=1&y=%20&z=caf%C3%A9 HTTP/1.1\r\n"
        b"Host: example.test:8080\r\n"
        b"X-Mixed-Case: Value With Spaces\r\n"
        b"x-dup: 1\r\n"
        b"X-DUP:  2 \r\n"
        b"\r\n"
    )
    scope, client_port, server_port = scope_of(request, loop_name)
    assert without_exchange(scope) == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/café/a/b/~user",  # percent-decoded, as UTF-8
        "raw_path": b"/caf%C3%A9/a%2Fb/%7Euser",  # as sent
        "query_string": b"x=1&y=%20&z=caf%C3%A9",  # as sent, never decoded
        "root_path": "",
        "headers": [  # names lower-cased, values trimmed, order and repeats kept
            (b"host", b"example.test:8080"),
            (b"x-mixed-case", b"Value With Spaces"),
            (b"x-dup", b"1"),
            (b"x-dup", b"2"),
        ],
        "client": ("127.0.0.1", client_port),
        "server": ("127.0.0.1", server_port),
        "state": {},
        "extensions": {
            "http.response.trailers": {},
            "http.response.early_hint": {},
            "http.response.pathsend": {},
            "http.response.zerocopysend": {},
        },
    }
    exchange = scope["extensions"]["ferry.exchange"]
    assert exchange["requests_on_connection"] == 1
    assert exchange["keep_alive"] is True


@pytest.mark.parametrize(
    ("request_line", "method", "version", "path", "raw_path", "query"),
    [
        (b"POST /submit HTTP/1.0", "POST", "1.0", "/submit", b"/submit", b""),
        (b"PURGE /cache/x HTTP/1.1", "PURGE", "1.1", "/cache/x", b"/cache/x", b""),
        (b"GET /%E2%82%AC?q HTTP/1.1", "GET", "1.1", "/€", b"/%E2%82%AC", b"q"),
        (b"GET /bad%FFutf8 HTTP/1.1", "GET", "1.1", "/bad\ufffdutf8", b"/bad%FFutf8", b""),
        (b"GET /a?b?c HTTP/1.1", "GET", "1.1", "/a", b"/a", b"b?c"),
        (b"GET / HTTP/1.1", "GET", "1.1", "/", b"/", b""),
        (b"GET http://other.test/abs?x=1 HTTP/1.1", "GET", "1.1", "/abs", b"/abs", b"x=1"),
        (b"OPTIONS * HTTP/1.1", "OPTIONS", "1.1", "*", b"*", b""),
    ],
)
def test_request_line_in_scope(
    loop_name: str,
    request_line: bytes,
    method: str,
    version: str,
    path: str,
    raw_path: bytes,
    query: bytes,
) -> None:
    scope, _, _ = scope_of(request_line + b"\r\nHost: t\r\n\r\n", loop_name)
    got = {k: scope[k] for k in ("method", "http_version", "path", "raw_path", "query_string")}
    assert got == {
        "method": method,
        "http_version": version,
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
    }


def test_root_path_prefixes_path_and_raw_path(loop_name: str) -> None:
    # ASGI: root_path is the mount point; path (and raw_path) are the full path under it.
    request = b"GET /api/caf%C3%A9?x=1 HTTP/1.1\r\nHost: t\r\n\r\n"
    scope, _, _ = scope_of(request, loop_name, root_path="/mount")
    got = {k: scope[k] for k in ("root_path", "path", "raw_path", "query_string")}
    assert got == {
        "root_path": "/mount",
        "path": "/mount/api/café",
        "raw_path": b"/mount/api/caf%C3%A9",
        "query_string": b"x=1",
    }


def test_exchange_extension_counts_requests_and_knows_the_last(loop_name: str) -> None:
    app = Recorder()
    with serving(app, loop_name, max_requests_per_connection=2) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
            reader.response()
            reader.response()
    seen = [
        (
            s["extensions"]["ferry.exchange"]["requests_on_connection"],
            s["extensions"]["ferry.exchange"]["keep_alive"],
        )
        for s in app.scopes
    ]
    assert seen == [(1, True), (2, False)]


def test_lifespan_state_is_shallow_copied_into_each_request(loop_name: str) -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    scope["state"]["greeting"] = "hello"
                    scope["state"]["shared"] = []
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        state = scope["state"]
        seen.append(dict(state))
        state["added_by_request"] = True  # a request's own key: not seen by the next
        state["shared"].append(len(seen))  # the objects themselves are shared
        await receive()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body"})

    with serving(app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            reader.response()
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            reader.response()
    assert seen == [
        {"greeting": "hello", "shared": [1, 2]},
        {"greeting": "hello", "shared": [1, 2]},
    ]
    assert seen[0]["shared"] is seen[1]["shared"]


def test_connections_to_one_listener_share_its_server_address(loop_name: str) -> None:
    # Memory per idle connection: the scope's "server" is made once per listener.
    app = Recorder()
    with serving(app, loop_name) as server:
        port = server.port
        for _ in range(2):
            sock, reader = open_connection(port)
            with sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                reader.response()
    first, second = app.scopes
    assert first["server"] == ("127.0.0.1", port)
    assert first["server"] is second["server"]
    assert first["client"][0] is second["client"][0]  # the host, interned
