"""The welcome page (examples/welcome.py), called in-process as an ASGI application.

Each test builds a scope by hand, feeds the request body through ``receive`` and records what
the application sends. A fake ``ferry.exchange`` extension renders response heads the way
Ferry lays them out (application fields, then Date, Server, Content-Length, Keep-Alive) with a
fixed Date, so the page's bytes are deterministic.
"""

import asyncio
import base64
import hashlib
import re
from collections.abc import MutableMapping, Sequence
from typing import Any

import pytest
from examples import welcome

Message = MutableMapping[str, Any]
Headers = list[tuple[bytes, bytes]]

CSP_PREFIX = b"default-src 'none'; style-src 'sha256-"


class FakeExchange:
    """A ``ferry.exchange`` extension that records every ``response_head`` call."""

    def __init__(self, requests_on_connection: int = 3, *, keep_alive: bool = True) -> None:
        self.requests_on_connection = requests_on_connection
        self.keep_alive = keep_alive
        self.calls: list[tuple[int, Headers]] = []

    def response_head(self, status: int, headers: Headers) -> bytes:
        self.calls.append((status, list(headers)))
        return render_head(status, headers)

    def extension(self) -> dict[str, Any]:
        return {
            "requests_on_connection": self.requests_on_connection,
            "keep_alive": self.keep_alive,
            "response_head": self.response_head,
        }


def render_head(status: int, headers: Headers) -> bytes:
    fields = [name + b": " + value for name, value in headers if name != b"content-length"]
    lengths = [value for name, value in headers if name == b"content-length"]
    lines = [
        b"HTTP/1.1 %d OK" % status,
        *fields,
        b"Date: Thu, 01 Jan 2026 00:00:00 GMT",
        b"Server: ferry",
        *(b"Content-Length: " + length for length in lengths),
        b"Keep-Alive: timeout=5",
    ]
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def http_scope(
    method: str = "GET",
    path: str = "/",
    *,
    raw_path: bytes | None = None,
    query_string: bytes = b"",
    headers: Headers | None = None,
    exchange: FakeExchange | None = None,
    client: Sequence[object] | None = ("127.0.0.1", 50123),
) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode() if raw_path is None else raw_path,
        "query_string": query_string,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")] if headers is None else headers,
        "client": client,
        "server": ("127.0.0.1", 8000),
    }
    if exchange is not None:
        scope["extensions"] = {"ferry.exchange": exchange.extension()}
    return scope


def run_app(scope: dict[str, Any], incoming: list[Message]) -> list[Message]:
    """Run the application on ``scope`` with ``incoming`` messages; return what it sent."""
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(welcome.app(scope, receive, send))
    return sent


def call(scope: dict[str, Any], body_chunks: Sequence[bytes] = (b"",)) -> list[Message]:
    """Run the application on an HTTP request whose body arrives in ``body_chunks``."""
    incoming: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(body_chunks) - 1}
        for i, chunk in enumerate(body_chunks)
    ]
    return run_app(scope, [*incoming, {"type": "http.disconnect"}])


def response(messages: list[Message]) -> tuple[int, Headers, bytes]:
    """Status, headers and body of a response sent as one start and one body message."""
    assert [m["type"] for m in messages] == ["http.response.start", "http.response.body"]
    start, body = messages
    assert set(start) == {"type", "status", "headers"}
    assert set(body) == {"type", "body"}  # no more_body: the whole body at once
    return start["status"], start["headers"], body["body"]


def html_headers(content_length: int, csp: bytes) -> Headers:
    return [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(content_length).encode()),
        (b"cache-control", b"no-store"),
        (b"content-security-policy", csp),
    ]


def wire(*lines: str) -> str:
    """The ``<pre>`` the page draws for lines on the wire (lines already HTML-escaped)."""
    crlf = '<span class="crlf">\\r\\n</span>'
    return "<pre>" + "".join(line + crlf + "\n" for line in lines) + "</pre>\n"


def field(name: str, value: str) -> str:
    return f'<span class="name">{name}</span>: {value}'


def get_welcome(
    exchange: FakeExchange | None = None, **scope_args: Any
) -> tuple[int, Headers, str]:
    status, headers, body = response(call(http_scope(exchange=exchange, **scope_args)))
    return status, headers, body.decode()


# --- the welcome page under Ferry ------------------------------------------------------------


def test_welcome_headers_match_response_head_and_exact_length() -> None:
    exchange = FakeExchange()
    status, headers, page = get_welcome(exchange)
    body = page.encode()
    assert status == 200
    assert headers == html_headers(len(body), headers[3][1])
    assert headers[3][1].startswith(CSP_PREFIX)
    # The head shown is the head of these very headers, and the last one rendered.
    assert exchange.calls[-1] == (200, headers)
    assert 2 <= len(exchange.calls) <= 3


def test_content_security_policy_allows_exactly_the_page_style() -> None:
    _, headers, page = get_welcome(FakeExchange())
    styles = re.findall(r"<style>(.*?)</style>", page, flags=re.DOTALL)
    assert len(styles) == 1
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest())
    assert headers[3] == (b"content-security-policy", CSP_PREFIX + digest + b"'")
    for loads_a_resource in ("<script", "<link", "<img", "src=", "href=", "url("):
        assert loads_a_resource not in page


def test_welcome_shows_connection_addresses() -> None:
    _, _, page = get_welcome(FakeExchange(), client=("203.0.113.7", 61000))
    assert "<pre>client 203.0.113.7:61000 → server 127.0.0.1:8000</pre>\n" in page


@pytest.mark.parametrize(
    ("client", "shown"),
    [
        (("::1", 61000), "[::1]:61000"),
        (("/tmp/ferry.sock", None), "/tmp/ferry.sock"),
        (None, "unknown"),
    ],
)
def test_welcome_formats_other_client_addresses(
    client: Sequence[object] | None, shown: str
) -> None:
    _, _, page = get_welcome(FakeExchange(), client=client)
    assert f"<pre>client {shown} → server 127.0.0.1:8000</pre>\n" in page


def test_welcome_shows_request_line_escaped() -> None:
    _, _, page = get_welcome(FakeExchange(), raw_path=b"/", query_string=b"q=<b>&x=1")
    assert wire("GET /?q=&lt;b&gt;&amp;x=1 HTTP/1.1") in page


def test_welcome_request_line_falls_back_to_quoted_path_without_raw_path() -> None:
    scope = http_scope(exchange=FakeExchange())
    del scope["raw_path"]
    _, _, body = response(call(scope))
    assert wire("GET / HTTP/1.1") in body.decode()


def test_welcome_shows_request_headers_in_order_and_escaped() -> None:
    headers = [
        (b"host", b"example.test:8000"),
        (b"user-agent", b"curl/8.5.0"),
        (b"x-evil", b"<script>alert(1)</script>"),
        (b"x-latin", b"caf\xe9"),
    ]
    _, _, page = get_welcome(FakeExchange(), headers=headers)
    assert (
        wire(
            field("host", "example.test:8000"),
            field("user-agent", "curl/8.5.0"),
            field("x-evil", "&lt;script&gt;alert(1)&lt;/script&gt;"),
            field("x-latin", "café"),
            "",
        )
        + "<p>Then the body: this request has none.</p>\n"
        in page
    )
    assert "<script>" not in page
    assert "<code>curl -v http://example.test:8000/</code>" in page


def test_welcome_shows_response_head_as_ferry_sends_it() -> None:
    exchange = FakeExchange()
    _, headers, page = get_welcome(exchange)
    csp = headers[3][1].decode().replace("'", "&#x27;")
    assert wire("HTTP/1.1 200 OK") in page
    assert (
        wire(
            field("content-type", "text/html; charset=utf-8"),
            field("cache-control", "no-store"),
            field("content-security-policy", csp),
            field("Date", "Thu, 01 Jan 2026 00:00:00 GMT"),
            field("Server", "ferry"),
            field("Content-Length", str(len(page.encode()))),
            field("Keep-Alive", "timeout=5"),
        )
        + "<p>Ferry added: Date, Server, Keep-Alive. The application set the others.</p>\n"
        in page
    )
    assert (
        f"<p>The body is this page: {len(page.encode())} bytes of "
        "<code>text/html; charset=utf-8</code>, " in page
    )


def test_welcome_shows_request_count_and_reload_hint() -> None:
    _, _, page = get_welcome(FakeExchange(3))
    assert (
        '<p class="counter"><strong>3</strong> requests on this connection so far, '
        "this one included.</p>\n" in page
    )
    assert "<strong>Reload the page: the counter goes up on the same connection.</strong>" in page


def test_welcome_first_request_and_closing_connection() -> None:
    _, _, page = get_welcome(FakeExchange(1, keep_alive=False))
    assert (
        '<p class="counter"><strong>1</strong> request on this connection so far, '
        "this one included.</p>\n" in page
    )
    assert "<p>The server closes the connection after this response: " in page
    assert "Reload the page" not in page


def test_welcome_counts_request_body_and_caps_what_it_shows() -> None:
    chunks = [b"a" * 40_000, b"b" * 40_000, b"c" * 100]
    scope = http_scope(exchange=FakeExchange())
    _, _, body = response(call(scope, chunks))
    shown = "a" * 40_000 + "b" * (welcome.BODY_DISPLAY_LIMIT - 40_000)
    expected = f"<p>Then the body: 80100 bytes (the first 65536 shown).</p>\n<pre>{shown}</pre>\n"
    assert expected in body.decode()


def test_welcome_shows_small_body_escaped() -> None:
    scope = http_scope(exchange=FakeExchange())
    _, _, body = response(call(scope, [b"<b>", b"hi</b>"]))
    assert "<p>Then the body: 9 bytes.</p>\n<pre>&lt;b&gt;hi&lt;/b&gt;</pre>\n" in body.decode()


def test_welcome_sends_nothing_when_client_disconnects_before_the_body_ends() -> None:
    incoming: list[Message] = [
        {"type": "http.request", "body": b"partial", "more_body": True},
        {"type": "http.disconnect"},
    ]
    assert run_app(http_scope(exchange=FakeExchange()), incoming) == []


def test_head_sends_get_headers_and_no_body() -> None:
    get_exchange, head_exchange = FakeExchange(), FakeExchange()
    get_status, get_headers, get_body = response(call(http_scope("GET", exchange=get_exchange)))
    messages = call(http_scope("HEAD", exchange=head_exchange))
    # RFC 9110 §8.6: Content-Length of a HEAD response is the length GET would have sent.
    assert messages == [
        {"type": "http.response.start", "status": get_status, "headers": get_headers},
        {"type": "http.response.body", "body": b""},
    ]
    assert get_headers[1] == (b"content-length", str(len(get_body)).encode())
    assert head_exchange.calls[-1] == (200, get_headers)


@pytest.mark.parametrize("power_of_ten", [10_000, 100_000])
@pytest.mark.parametrize("offset", range(-12, 12))
def test_content_length_converges_across_a_power_of_ten(power_of_ten: int, offset: int) -> None:
    # Grow the page a byte at a time through a power of ten, where a length guessed with too
    # few digits changes the digit count twice (99,998 -> 100,000 -> 100,002 bytes): the page
    # must still settle in 3 rounds, with a Content-Length equal to its size.
    base = len(get_welcome(FakeExchange(), headers=[(b"x-pad", b"")])[2].encode())
    filler = b"p" * (power_of_ten - base + offset)
    exchange = FakeExchange()
    _, headers, page = get_welcome(exchange, headers=[(b"x-pad", filler)])
    size = len(page.encode())
    assert power_of_ten - 12 <= size <= power_of_ten + 24
    assert headers[1] == (b"content-length", str(size).encode())
    assert field("Content-Length", str(size)) in page
    assert len(exchange.calls) <= 3


# --- the welcome page under another server ---------------------------------------------------


def test_welcome_without_extension_shows_application_headers() -> None:
    status, headers, page = get_welcome(None)
    body = page.encode()
    csp = headers[3][1].decode().replace("'", "&#x27;")
    assert status == 200
    assert headers == html_headers(len(body), headers[3][1])
    assert "<h1>The welcome app is running</h1>" in page
    assert "does not provide Ferry's <code>ferry.exchange</code> extension, so the server" in page
    assert wire("HTTP/1.1 200 OK") in page
    assert (
        wire(
            field("content-type", "text/html; charset=utf-8"),
            field("content-length", str(len(body))),
            field("cache-control", "no-store"),
            field("content-security-policy", csp),
        )
        + "<p>The fields this application sets; the server adds its own.</p>\n"
        in page
    )
    assert "<p>This server does not report whether the connection stays open." in page
    assert 'class="counter"' not in page


def test_head_without_extension_has_no_body() -> None:
    _, get_headers, _ = response(call(http_scope("GET")))
    assert call(http_scope("HEAD")) == [
        {"type": "http.response.start", "status": 200, "headers": get_headers},
        {"type": "http.response.body", "body": b""},
    ]


# --- other routes ----------------------------------------------------------------------------


def test_unknown_path_is_404_with_escaped_path() -> None:
    status, headers, body = response(call(http_scope(path="/<nope>", exchange=FakeExchange())))
    assert status == 404
    assert headers == html_headers(len(body), headers[3][1])
    assert "<title>404 Not Found</title>" in body.decode()
    assert (
        "<p>There is no page at <code>/&lt;nope&gt;</code>. "
        'The welcome page is at <a href="/">/</a>.</p>\n' in body.decode()
    )


def test_unknown_path_head_is_404_without_body() -> None:
    _, get_headers, _ = response(call(http_scope(path="/missing")))
    assert call(http_scope("HEAD", path="/missing")) == [
        {"type": "http.response.start", "status": 404, "headers": get_headers},
        {"type": "http.response.body", "body": b""},
    ]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "<X>"])
def test_other_methods_on_root_are_405_with_allow(method: str) -> None:
    status, headers, body = response(call(http_scope(method, exchange=FakeExchange())))
    assert status == 405
    assert headers == [*html_headers(len(body), headers[3][1]), (b"allow", b"GET, HEAD")]
    escaped = method.replace("<", "&lt;").replace(">", "&gt;")
    assert (
        f"<p><code>/</code> answers GET and HEAD, not <code>{escaped}</code>.</p>\n"
        in body.decode()
    )


def test_favicon_is_204_without_body() -> None:
    assert call(http_scope(path="/favicon.ico")) == [
        {
            "type": "http.response.start",
            "status": 204,
            "headers": [(b"cache-control", b"max-age=86400")],
        },
        {"type": "http.response.body", "body": b""},
    ]


# --- lifespan and other scopes ---------------------------------------------------------------


def test_lifespan_startup_and_shutdown_complete() -> None:
    incoming: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
    sent = run_app(scope, incoming)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert incoming == []


def test_websocket_scope_is_refused() -> None:
    async def receive() -> Message:
        raise AssertionError("the app must not receive")

    async def send(message: Message) -> None:
        raise AssertionError("the app must not send")

    with pytest.raises(ValueError, match="does not serve 'websocket' scopes"):
        asyncio.run(welcome.app({"type": "websocket"}, receive, send))


# -- the example site's "Try it" commands (examples/site/index.html) ---------------------


def test_try_it_commands_are_rewritten_to_the_page_address() -> None:
    """Defect 11: each command with make run's address is marked for the page's script,
    which puts the address the page came from in its place."""
    from pathlib import Path

    site = Path(__file__).resolve().parents[1] / "examples" / "site"
    page = (site / "index.html").read_text()
    marked = re.findall(r"<code data-try>([^<]*)</code>", page)
    assert len(marked) == 3
    assert page.count("127.0.0.1:8000") == len(marked) + 1  # and the script's replace()
    assert all("http://127.0.0.1:8000/" in command for command in marked)
    assert 'code.textContent.replace("http://127.0.0.1:8000", location.origin)' in page
    assert "8000" not in (site / "files" / "notes.txt").read_text()


def test_try_it_commands_show_the_port_served_on(tmp_path: Any) -> None:
    """Defect 11, in a browser: served on another port, the commands name that port."""
    from ferry.static import StaticFiles
    from tests.static.test_browser import CHROMIUM, SITE, render
    from tests.support import serving

    if not CHROMIUM.exists():
        pytest.skip("needs headless Chromium at /usr/bin/chromium")
    with serving(StaticFiles(SITE)) as running:
        dom = render(f"http://127.0.0.1:{running.port}/", tmp_path / "profile")
        port = running.port
    commands = [code.text() for code in dom.find_all("code") if "data-try" in code.attrs]
    assert commands == [
        f"curl -I http://127.0.0.1:{port}/style.css",
        f"curl -H 'Range: bytes=0-99' http://127.0.0.1:{port}/files/notes.txt",
        f"curl --compressed -v http://127.0.0.1:{port}/style.css",
    ]
