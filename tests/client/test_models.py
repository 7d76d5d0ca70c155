"""The client's I/O-free helpers: URLs, Keep-Alive, redirect rules, body preparation."""

from __future__ import annotations

import io

import pytest

from ferry import LocalProtocolError, RemoteProtocolError
from ferry.client._models import URL, keep_alive_timeout, prepare_body, redirect

PUNY = "xn--bcher-kva.example"  # IDNA for the host Bücher.example


@pytest.mark.parametrize(
    ("url", "host", "port", "target", "authority"),
    [
        ("http://[::1]:8080/a?b", "::1", 8080, b"/a?b", b"[::1]:8080"),
        (
            "https://B\u00fccher.example/",
            "xn--bcher-kva.example",
            443,
            b"/",
            b"xn--bcher-kva.example",
        ),
        ("HTTP://h", "h", 80, b"/", b"h"),
        ("http://h:80/x%20y", "h", 80, b"/x%20y", b"h"),
    ],
)
def test_url_parse(url: str, host: str, port: int, target: bytes, authority: bytes) -> None:
    parsed = URL.parse(url)
    assert (parsed.host, parsed.port, parsed.target, parsed.authority) == (
        host,
        port,
        target,
        authority,
    )


@pytest.mark.parametrize("url", ["http://h:99999/", "http://h@/", "mailto:x@y"])
def test_url_parse_refuses(url: str) -> None:
    with pytest.raises(LocalProtocolError):
        URL.parse(url)


@pytest.mark.parametrize(
    ("value", "timeout"),
    [(b"timeout=5, max=100", 5.0), (b"max=3,  Timeout = 7", 7.0), (b"timeout=x", None)],
)
def test_keep_alive_timeout(value: bytes, timeout: float | None) -> None:
    assert keep_alive_timeout([(b"keep-alive", value)]) == timeout
    assert keep_alive_timeout([]) is None


def test_redirect_resolves_relative_locations() -> None:
    base = URL.parse("http://h/a/b?q")
    hop = redirect(b"GET", base, 301, b"../c", [(b"Accept", b"*/*")])
    assert hop is not None
    assert hop[1] == URL.parse("http://h/c")
    assert redirect(b"GET", base, 200, b"/x", []) is None
    assert redirect(b"GET", base, 302, None, []) is None
    with pytest.raises(RemoteProtocolError):
        redirect(b"GET", base, 302, b"javascript:alert(1)", [])


def test_head_stays_head_after_303() -> None:
    hop = redirect(b"HEAD", URL.parse("http://h/"), 303, b"/x", [])
    assert hop is not None
    assert (hop[0], hop[3]) == (b"HEAD", False)


def test_prepare_body() -> None:
    assert prepare_body(None) == (b"", None, 0)
    assert prepare_body("\u00e9") == (b"\xc3\xa9", None, 2)
    memory = io.BytesIO(b"abc")  # no file descriptor: length unknown, chunked
    assert prepare_body(memory) == (None, memory, None)
