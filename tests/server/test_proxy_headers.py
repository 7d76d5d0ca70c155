"""The proxy in front, over real sockets: the client and scheme a trusted proxy names
reach the ASGI scope, WSGI's environ and the access log; nobody else can name them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from ferry import ConfigError
from ferry.server import Config
from ferry.static import StaticFiles
from ferry.wsgi import WSGIAdapter

from ..support import exchange, serving


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the scope's client and scheme, as JSON."""
    if scope["type"] != "http":
        return
    body = json.dumps({"client": scope["client"], "scheme": scope["scheme"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def wsgi_echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    keys = ("REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({k: environ.get(k) for k in keys}).encode()]


def ask(port: int, *fields: str) -> Any:
    head = "".join(f"{field}\r\n" for field in fields)
    data = exchange(port, f"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{head}\r\n".encode())
    status, _, rest = data.partition(b"\r\n")
    assert status == b"HTTP/1.1 200 OK", data
    return json.loads(rest.partition(b"\r\n\r\n")[2])


def test_a_trusted_proxy_names_the_client_and_scheme() -> None:
    with serving(echo, lifespan="off") as server:  # default: 127.0.0.1 is trusted
        assert ask(server.port, "X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https") == {
            "client": ["203.0.113.7", 0],
            "scheme": "https",
        }
        assert ask(server.port, 'Forwarded: for="[2001:db8::7]:4711";proto=https') == {
            "client": ["2001:db8::7", 4711],
            "scheme": "https",
        }
        plain = ask(server.port)
        assert plain["client"][0] == "127.0.0.1"
        assert plain["scheme"] == "http"
        # The leftmost entry is the client's own writing: the proxy's is believed.
        assert ask(server.port, "X-Forwarded-For: 6.6.6.6, 203.0.113.7")["client"] == [
            "203.0.113.7",
            0,
        ]
        # A Forwarded the proxy did not write (it wrote X-Forwarded-For): neither counts.
        spoofed = ask(server.port, "Forwarded: for=6.6.6.6", "X-Forwarded-For: 203.0.113.7")
        assert spoofed["client"][0] == "127.0.0.1"
        # Malformed: ignored, never an error.
        assert ask(server.port, "X-Forwarded-For: not an address")["client"][0] == "127.0.0.1"


@pytest.mark.parametrize(
    "options",
    [{"forwarded_allow_ips": "10.0.0.0/8"}, {"proxy_headers": False}],
    ids=["untrusted-peer", "no-proxy-headers"],
)
def test_nobody_else_names_the_client(options: dict[str, Any]) -> None:
    with serving(echo, lifespan="off", **options) as server:
        found = ask(
            server.port,
            "X-Forwarded-For: 6.6.6.6",
            "X-Forwarded-Proto: https",
            "Forwarded: for=6.6.6.6;proto=https",
        )
        assert found["client"][0] == "127.0.0.1"
        assert found["scheme"] == "http"


def test_wsgi_environ_behind_the_proxy() -> None:
    with serving(WSGIAdapter(wsgi_echo), lifespan="off") as server:
        assert ask(server.port, "X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https") == {
            "REMOTE_ADDR": "203.0.113.7",
            "REMOTE_PORT": "0",
            "wsgi.url_scheme": "https",
        }


def test_the_access_log_shows_the_client_behind_the_proxy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "hello.txt").write_text("hello")
    caplog.set_level(logging.INFO, logger="ferry.access")
    for app in (echo, StaticFiles(tmp_path)):  # an app, and files answered at once
        caplog.clear()
        with serving(app, lifespan="off", access_log=True) as server:
            request = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            exchange(server.port, request + b"X-Forwarded-For: 203.0.113.7\r\n\r\n")
            exchange(server.port, request + b"\r\n")
        lines = [r.getMessage() for r in caplog.records if r.name == "ferry.access"]
        assert [line.split(" ")[0] for line in lines] == ["203.0.113.7", "127.0.0.1"]


def test_a_bad_forwarded_allow_ips_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'localhost' is not an IP address"):
        Config(forwarded_allow_ips="127.0.0.1,localhost")


async def ws_echo_scope(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Denies the WebSocket with a 403 whose body is the scope's client and scheme."""
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    body = json.dumps({"client": scope["client"], "scheme": scope["scheme"]}).encode()
    await send({"type": "websocket.http.response.start", "status": 403, "headers": []})
    await send({"type": "websocket.http.response.body", "body": body})


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"client": ["203.0.113.7", 0], "scheme": "wss"}),
        ({"forwarded_allow_ips": "10.0.0.0/8"}, None),  # untrusted: the connection's own
    ],
    ids=["trusted", "untrusted"],
)
def test_a_websocket_scope_behind_the_proxy(
    options: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    handshake = (
        b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n\r\n"
    )
    with serving(ws_echo_scope, lifespan="off", **options) as server:
        response = exchange(server.port, handshake)
    assert response.startswith(b"HTTP/1.1 403 Forbidden\r\n"), response
    seen = json.loads(response.partition(b"\r\n\r\n")[2])
    if expected is None:
        assert seen["client"][0] == "127.0.0.1"
        assert seen["scheme"] == "ws"
    else:
        assert seen == expected
