"""File responses: exact header fields and bodies, methods, Cache-Control, Server-Timing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ferry.static import StaticFiles
from ferry.static._mediatypes import content_type, is_compressible
from tests.support import ServerThread, connect, read_response, serving

from ._asgi import call, scope_for
from ._http import request
from .conftest import DIGITS, HELLO, LAST_MODIFIED, PNG, etag_of

SERVER_FIELDS = [("Server", "ferry"), ("Connection", "close")]


def test_get_text_file_exact(server: ServerThread, site_root: Path) -> None:
    response = request(server.port, "/hello.txt")
    assert response.status == 200
    assert response.headers == [
        ("content-type", "text/plain; charset=utf-8"),
        ("last-modified", LAST_MODIFIED),
        ("etag", etag_of(site_root / "hello.txt")),
        ("accept-ranges", "bytes"),
        ("vary", "Accept-Encoding"),
        ("x-content-type-options", "nosniff"),
        ("Server", "ferry"),
        ("Content-Length", "14"),
        ("Connection", "close"),
    ]
    assert response.body == HELLO


def test_head_has_get_fields_and_no_body(server: ServerThread) -> None:
    get = request(server.port, "/hello.txt")
    head = request(server.port, "/hello.txt", "HEAD")
    assert (head.status, head.headers, head.body) == (200, get.headers, b"")


def test_binary_file_has_no_vary_and_no_charset(server: ServerThread, site_root: Path) -> None:
    response = request(server.port, "/logo.png", headers={"Accept-Encoding": "gzip"})
    assert response.headers == [
        ("content-type", "image/png"),
        ("last-modified", LAST_MODIFIED),
        ("etag", etag_of(site_root / "logo.png")),
        ("accept-ranges", "bytes"),
        ("x-content-type-options", "nosniff"),
        ("Server", "ferry"),
        ("Content-Length", str(len(PNG))),
        ("Connection", "close"),
    ]
    assert response.body == PNG


def test_empty_file(server: ServerThread) -> None:
    response = request(server.port, "/empty.txt")
    assert (response.status, response.header("content-length"), response.body) == (200, "0", b"")


def test_keep_alive_serves_several_files(server: ServerThread) -> None:
    with connect(server.port) as sock:
        for _ in range(3):
            sock.sendall(b"GET /digits.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock)[1] == DIGITS
            sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-4\r\n\r\n")
            head, body = read_response(sock)
            assert head.startswith(b"HTTP/1.1 206 Partial Content\r\n")
            assert body == b"Hello"


def test_options_answers_allow(server: ServerThread) -> None:
    response = request(server.port, "/hello.txt", "OPTIONS")
    assert (response.status, response.headers, response.body) == (
        204,
        [("allow", "GET, HEAD, OPTIONS"), *SERVER_FIELDS],
        b"",
    )


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "TRACE"])
def test_other_methods_are_405(server: ServerThread, method: str) -> None:
    response = request(server.port, "/hello.txt", method, headers={"Content-Length": "0"})
    assert response.status == 405
    assert response.headers == [
        ("content-type", "text/plain; charset=utf-8"),
        ("allow", "GET, HEAD, OPTIONS"),
        ("x-content-type-options", "nosniff"),
        ("Server", "ferry"),
        ("Content-Length", "23"),
        ("Connection", "close"),
    ]
    assert response.body == b"405 Method Not Allowed\n"


def test_not_found_is_exact(server: ServerThread) -> None:
    response = request(server.port, "/nope.txt")
    assert response.status == 404
    assert response.headers == [
        ("content-type", "text/plain; charset=utf-8"),
        ("x-content-type-options", "nosniff"),
        ("Server", "ferry"),
        ("Content-Length", "14"),
        ("Connection", "close"),
    ]
    assert response.body == b"404 Not Found\n"


def test_cache_control_is_configurable(site_root: Path) -> None:
    app = StaticFiles(site_root, cache_control="public, max-age=3600")
    with serving(app) as running:
        assert request(running.port, "/logo.png").header("cache-control") == (
            "public, max-age=3600"
        )
        not_modified = request(
            running.port, "/logo.png", headers={"If-None-Match": etag_of(site_root / "logo.png")}
        )
        assert not_modified.header("cache-control") == "public, max-age=3600"
    assert request_without_cache_control(site_root) is None


def request_without_cache_control(site_root: Path) -> str | None:
    messages = call(StaticFiles(site_root), scope_for(b"/logo.png"))
    return dict(messages[0]["headers"]).get(b"cache-control")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.html", "text/html; charset=utf-8"),
        ("a.CSS", "text/css; charset=utf-8"),
        ("a.js", "text/javascript; charset=utf-8"),
        ("a.mjs", "text/javascript; charset=utf-8"),
        ("a.json", "application/json; charset=utf-8"),
        ("a.svg", "image/svg+xml"),
        ("a.png", "image/png"),
        ("a.webp", "image/webp"),
        ("a.woff2", "font/woff2"),
        ("a.wasm", "application/wasm"),
        ("a.tar.gz", "application/gzip"),
        ("a.unknown", "application/octet-stream"),
        ("Makefile", "application/octet-stream"),
    ],
)
def test_content_type(name: str, expected: str) -> None:
    assert content_type(name) == expected


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [
        ("text/css; charset=utf-8", True),
        ("image/svg+xml", True),
        ("application/ld+json", True),
        ("application/wasm", True),
        ("image/png", False),
        ("application/gzip", False),
    ],
)
def test_is_compressible(media_type: str, expected: bool) -> None:
    assert is_compressible(media_type) is expected


def test_server_timing_over_a_real_server(server: ServerThread) -> None:
    # Ferry puts the head's timestamps in the ferry.exchange extension; HTML pages (an
    # index file, a listing) report them, for Navigation Timing to show.
    for path in ("/site/", "/site/index.html", "/sub/"):
        timing = request(server.port, path).server_timing
        assert timing is not None, path
        assert re.fullmatch(r"head;dur=\d+\.\d{3}, handler;dur=\d+\.\d{3}", timing), timing


def test_no_server_timing_for_other_responses(server: ServerThread) -> None:
    # A file's head is then the same on every request (the server reuses its rendering).
    for path in ("/hello.txt", "/logo.png", "/nope", "/sub"):
        assert request(server.port, path).server_timing is None, path
    json_listing = request(server.port, "/sub/", headers={"Accept": "application/json"})
    assert json_listing.server_timing is None


def test_server_timing_from_the_exchange_extension(site_root: Path) -> None:
    exchange = {"head_start": 100.0, "head_end": 100.0015}
    messages = call(
        StaticFiles(site_root),
        scope_for(b"/site/index.html", extensions={"ferry.exchange": exchange}),
    )
    timing = dict(messages[0]["headers"])[b"server-timing"].decode()
    match = re.fullmatch(r"head;dur=(\d+\.\d{3}), handler;dur=(\d+\.\d{3})", timing)
    assert match is not None, timing
    assert match[1] == "1.500"
    assert float(match[2]) > 0  # perf_counter() is far past 100.0015 s


@pytest.mark.parametrize(
    "exchange", [None, {}, {"head_start": 1.0}, {"head_start": "x", "head_end": 2.0}]
)
def test_no_server_timing_without_timestamps(site_root: Path, exchange: object) -> None:
    extensions = {} if exchange is None else {"ferry.exchange": exchange}
    messages = call(StaticFiles(site_root), scope_for(b"/site/index.html", extensions=extensions))
    assert messages[0]["status"] == 200
    assert b"server-timing" not in dict(messages[0]["headers"])


def test_lifespan_is_answered(site_root: Path) -> None:
    import asyncio

    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, str]] = []

    async def receive() -> dict[str, str]:
        return incoming.pop(0)

    async def send(message: dict[str, str]) -> None:
        sent.append(message)

    asyncio.run(StaticFiles(site_root)({"type": "lifespan"}, receive, send))
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


def test_mounted_under_a_root_path(site_root: Path) -> None:
    scope = scope_for(b"/static/hello.txt", root_path="/static")
    messages = call(StaticFiles(site_root), scope)
    assert messages[0]["status"] == 200
    assert messages[-1]["body"] == HELLO
