"""Ferry's welcome page: the HTTP/1.1 exchange that produced it, step by step.

``make run`` serves this application on http://127.0.0.1:8000/. The page walks through the
seven steps of one HTTP/1.1 exchange with the real data of the request that fetched it: the
addresses of the TCP connection, the request line and header fields as received, the status
line and header fields of the response, and whether the connection stays open.

Routes:
    GET, HEAD /     the welcome page; other methods get 405 with ``Allow: GET, HEAD``
    /favicon.ico    204, so that browsers log no 404
    anything else   a small 404 page

Under Ferry, the ``ferry.exchange`` scope extension gives the exact response head Ferry will
send and the number of requests the connection has carried. Under another ASGI server the page
shows the header fields the application sets and says that the server's are not visible.

Standard library only. Every value that comes from the request is HTML-escaped, and the
Content-Security-Policy allows nothing but the page's own inline style sheet.
"""

import base64
import hashlib
import html
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NamedTuple, TypeAlias, TypedDict, cast
from urllib.parse import quote

__all__ = ["BODY_DISPLAY_LIMIT", "FerryExchange", "app"]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
Headers: TypeAlias = list[tuple[bytes, bytes]]


class FerryExchange(TypedDict):
    """``scope["extensions"]["ferry.exchange"]``: what Ferry tells an application."""

    requests_on_connection: int  # 1 for the first request on the TCP connection, then 2, ...
    keep_alive: bool  # whether the connection stays open after this response, as of now
    # The exact status line, header fields and empty line Ferry sends for this status and
    # these application headers.
    response_head: Callable[[int, Headers], bytes]


BODY_DISPLAY_LIMIT = 64 * 1024  # request body bytes shown on the page; the rest are counted

_LENGTH_GUESS = 5000  # the first Content-Length the welcome page is rendered with

_STYLE = """
:root {
  color-scheme: light dark;
  --bg: #fbfaf7; --fg: #1c1e22; --muted: #5b626d; --code: #efede6;
  --accent: #0a6b6b; --rule: #d9d5ca;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14161a; --fg: #e5e2db; --muted: #9ba2ac; --code: #1f2228;
    --accent: #5ec4c4; --rule: #30343b;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 1rem/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
main { max-width: 46rem; margin: 0 auto; padding: 2rem 1rem 3rem; }
h1 { font-size: 1.75rem; line-height: 1.2; margin: 0 0 .5rem; }
h2 { font-size: 1.05rem; margin: 0 0 .4rem; }
p { margin: .4rem 0; }
a { color: var(--accent); }
.lead, .muted, footer { color: var(--muted); }
ol.steps { list-style: none; counter-reset: step; margin: 2rem 0; padding: 0; }
ol.steps > li {
  counter-increment: step; position: relative;
  margin-left: .9rem; padding: 0 0 1.5rem 1.6rem; border-left: 2px solid var(--rule);
}
ol.steps > li:last-child { border-left-color: transparent; }
ol.steps > li::before {
  content: counter(step); position: absolute; left: -.95rem; top: -.1rem;
  width: 1.8rem; height: 1.8rem; border-radius: 50%; text-align: center;
  line-height: 1.8rem; font-weight: 700; background: var(--accent); color: var(--bg);
}
pre, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre {
  margin: .5rem 0; padding: .7rem .9rem; border-radius: .4rem; background: var(--code);
  font-size: .85rem; line-height: 1.5; white-space: pre-wrap; overflow-wrap: anywhere;
}
.crlf { color: var(--muted); opacity: .75; }
.name { color: var(--accent); }
.note { margin: .6rem 0; padding: .3rem .8rem; border-left: 3px solid var(--accent); }
.counter strong { font-size: 2rem; color: var(--accent); }
footer { margin-top: 1rem; padding-top: 1rem; border-top: 1px solid var(--rule); }
"""

# CSP Level 2 hashes: the header allows exactly this style sheet, no other style or script.
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest())
_CONTENT_SECURITY_POLICY = b"default-src 'none'; style-src 'sha256-" + _STYLE_HASH + b"'"
_CONTENT_TYPE = b"text/html; charset=utf-8"

# The end of a line on the wire, drawn where the page shows bytes as they travel.
_CRLF = '<span class="crlf">\\r\\n</span>'


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI 3 application: the welcome page over HTTP, plus the lifespan protocol.

    Raises ValueError for any other scope type (ASGI: an application raises for scopes it
    does not understand).
    """
    if scope["type"] == "http":
        await _serve_http(scope, receive, send)
    elif scope["type"] == "lifespan":
        await _serve_lifespan(receive, send)
    else:
        raise ValueError(f"the welcome app does not serve {scope['type']!r} scopes")


async def _serve_lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge ``lifespan.startup`` and ``lifespan.shutdown``; return after shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _serve_http(scope: Scope, receive: Receive, send: Send) -> None:
    """Route one request: ``/``, ``/favicon.ico``, or a 404."""
    method: str = scope["method"]
    path: str = scope["path"]
    if path == "/favicon.ico":
        await _send(send, method, 204, [(b"cache-control", b"max-age=86400")], b"")
    elif path != "/":
        await _send_page(send, method, 404, [], _not_found_page(path))
    elif method not in ("GET", "HEAD"):
        allow = [(b"allow", b"GET, HEAD")]
        await _send_page(send, method, 405, allow, _method_not_allowed_page(method))
    else:
        body = await _read_body(receive)
        if body is None:
            return  # the client went away before it finished sending its request
        response = _welcome_response(_describe_request(scope, body), _ferry_exchange(scope))
        await _send(send, method, 200, response.headers, response.body)


async def _send(send: Send, method: str, status: int, headers: Headers, body: bytes) -> None:
    """Send a whole response; a response to HEAD keeps its header fields but has no body."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    # RFC 9110 §9.3.2: a response to HEAD has the header fields of GET and no content.
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


async def _send_page(send: Send, method: str, status: int, extra: Headers, page: str) -> None:
    body = page.encode()
    await _send(send, method, status, [*_html_headers(len(body)), *extra], body)


def _html_headers(content_length: int) -> Headers:
    """The header fields of every HTML page this application sends."""
    return [
        (b"content-type", _CONTENT_TYPE),
        (b"content-length", str(content_length).encode("ascii")),
        (b"cache-control", b"no-store"),  # a reload must reach the server to count
        (b"content-security-policy", _CONTENT_SECURITY_POLICY),
    ]


class RequestBody(NamedTuple):
    preview: bytes  # the first BODY_DISPLAY_LIMIT bytes
    size: int  # every byte received


async def _read_body(receive: Receive) -> RequestBody | None:
    """Receive the whole request body, keep its first BODY_DISPLAY_LIMIT bytes, count the rest.

    Returns None if the client disconnected before the end of the body.
    """
    kept = bytearray()
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        kept += chunk[: BODY_DISPLAY_LIMIT - len(kept)]
        if not message.get("more_body", False):
            return RequestBody(bytes(kept), size)


def _ferry_exchange(scope: Scope) -> FerryExchange | None:
    extensions = scope.get("extensions") or {}
    return cast("FerryExchange | None", extensions.get("ferry.exchange"))


@dataclass(frozen=True, slots=True)
class Request:
    """What the page shows of the request (steps 1 to 3), as text."""

    client: str
    server: str
    request_line: str
    header_lines: tuple[str, ...]  # "name: value", in the order received
    body: RequestBody
    http_version: str
    host: str  # for the curl hint: the Host field, else the server address


def _describe_request(scope: Scope, body: RequestBody) -> Request:
    # RFC 9110 §8.6: a response to HEAD may carry Content-Length only if it is the length
    # GET would have sent, so a HEAD request is described as the same request with GET.
    method = "GET" if scope["method"] == "HEAD" else scope["method"]
    target = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    headers = [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]
    ]
    server = _format_address(scope.get("server"))
    return Request(
        client=_format_address(scope.get("client")),
        server=server,
        request_line=f"{method} {target.decode('latin-1')} HTTP/{scope['http_version']}",
        header_lines=tuple(f"{name}: {value}" for name, value in headers),
        body=body,
        http_version=scope["http_version"],
        host=next((value for name, value in headers if name == "host"), server),
    )


def _format_address(address: Sequence[Any] | None) -> str:
    """``host:port`` (``[host]:port`` for IPv6), a Unix socket path, or "unknown"."""
    if not address:
        return "unknown"
    host, port = str(address[0]), address[1]
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Rendered(NamedTuple):
    headers: Headers  # exactly the headers given to response_head for this body
    body: bytes


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """The response head the page shows: steps 4 and 5."""

    status_line: str
    field_lines: tuple[str, ...]
    exact: bool  # True: the bytes Ferry sends; False: only the application's own fields


def _welcome_response(request: Request, exchange: FerryExchange | None) -> Rendered:
    def render(content_length: int) -> Rendered:
        headers = _html_headers(content_length)
        if exchange is None:
            head = _application_head(request.http_version, headers)
        else:
            head = _parse_head(exchange["response_head"](200, headers))
        page = _welcome_page(request, exchange, head, headers, content_length)
        return Rendered(headers, page.encode())

    return _render_to_fixpoint(render)


def _render_to_fixpoint(render: Callable[[int], Rendered]) -> Rendered:
    """Return ``render(n)`` for an ``n`` equal to the length of the body it renders.

    The page quotes its own Content-Length, so its length depends on that number only through
    its count of digits: ``len(render(n).body) == base + per_digit * len(str(n))``. Round 1
    renders a four-digit guess, round 2 the length round 1 measured; they agree when that
    length has four digits too, as a welcome page of a few kilobytes does. Otherwise the two
    measurements give ``base`` and ``per_digit``, and round 3 renders the smallest consistent
    ``n``. Plain iteration (render the length just measured until it stops changing) would
    need a fourth round when the page is a few bytes short of a power of ten: 99,998 bytes
    with a four-digit length, 100,000 with five, 100,002 with six.

    Raises AssertionError if three rounds do not converge, that is if the page's length
    depends on more than the digit count of its Content-Length.
    """
    first = len(render(_LENGTH_GUESS).body)
    second = render(first)
    if len(second.body) == first:
        return second
    added_digits = len(str(first)) - len(str(_LENGTH_GUESS))
    per_digit = (len(second.body) - first) // (added_digits or 1)
    length = _consistent_length(first - per_digit * len(str(_LENGTH_GUESS)), per_digit)
    third = render(length)
    if len(third.body) != length:
        measured = len(third.body)
        raise AssertionError(f"page length did not converge: assumed {length}, got {measured}")
    return third


def _consistent_length(base: int, per_digit: int) -> int:
    """The smallest n > 0 with ``n == base + per_digit * len(str(n))``, else 0."""
    for digits in range(1, 20):
        n = base + per_digit * digits
        if n > 0 and len(str(n)) == digits:
            return n
    return 0


def _parse_head(head: bytes) -> ResponseHead:
    """Split the bytes of a response head into its status line and field lines."""
    status_line, *field_lines = head.decode("latin-1").removesuffix("\r\n\r\n").split("\r\n")
    return ResponseHead(status_line, tuple(field_lines), exact=True)


def _application_head(http_version: str, headers: Headers) -> ResponseHead:
    """The head as far as the application knows it: its own status and header fields."""
    return ResponseHead(
        status_line=f"HTTP/{http_version} 200 {HTTPStatus.OK.phrase}",
        field_lines=tuple(f"{n.decode('latin-1')}: {v.decode('latin-1')}" for n, v in headers),
        exact=False,
    )


# --- HTML ------------------------------------------------------------------------------------


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _document(title: str, content: str) -> str:
    """A whole HTML page: ``title`` is plain text, ``content`` is HTML for the ``<main>``."""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{content}</main>\n</body>\n</html>\n"
    )


def _wire(lines: Iterable[str]) -> str:
    """A ``<pre>`` of lines as they travel: each ends with CRLF; a field's name stands out."""
    rendered = []
    for line in lines:
        name, colon, rest = line.partition(":")
        text = f'<span class="name">{_escape(name)}</span>{_escape(colon + rest)}'
        rendered.append(f"{text if colon else _escape(line)}{_CRLF}\n")
    return f"<pre>{''.join(rendered)}</pre>\n"


def _step(title: str, *parts: str) -> str:
    """One step of the exchange; ``title`` and ``parts`` are HTML."""
    return f"<li>\n<h2>{title}</h2>\n{''.join(parts)}</li>\n"


def _welcome_page(
    request: Request,
    exchange: FerryExchange | None,
    head: ResponseHead,
    headers: Headers,
    content_length: int,
) -> str:
    title = "Ferry is running" if exchange is not None else "The welcome app is running"
    steps = (
        _step_connect(request),
        _step_request_line(request),
        _step_request_headers(request),
        _step_status_line(head),
        _step_response_headers(head, headers),
        _step_body(content_length),
        _step_keep_alive(exchange),
    )
    return _document(
        title,
        f"<h1>{_escape(title)}</h1>\n"
        '<p class="lead">Your browser asked this server for a page, and this page is the '
        "answer. Every HTTP/1.1 exchange takes the same seven steps; here they are, with the "
        "data of the exchange that produced this page.</p>\n"
        f'<ol class="steps">\n{"".join(steps)}</ol>\n'
        "<footer>\n<p>To watch an exchange from the client's side: "
        f"<code>curl -v http://{_escape(request.host)}/</code></p>\n"
        "<p>This page is <code>examples/welcome.py</code>: one ASGI application, standard "
        "library only.</p>\n</footer>\n",
    )


def _step_connect(request: Request) -> str:
    return _step(
        "The client opens a TCP connection to the server",
        "<p>Everything below travels over this one connection.</p>\n",
        f"<pre>client {_escape(request.client)} → server {_escape(request.server)}</pre>\n",
    )


def _step_request_line(request: Request) -> str:
    return _step(
        "It sends the request line",
        "<p>The method, the request target (path and query), the protocol version.</p>\n",
        _wire([request.request_line]),
    )


def _step_request_headers(request: Request) -> str:
    return _step(
        "It sends its header fields, then an empty line",
        "<p>One field per line, in the order received; an empty line ends them. "
        "(ASGI gives an application the field names in lower case.)</p>\n",
        _wire([*request.header_lines, ""]),
        _request_body(request.body),
    )


def _request_body(body: RequestBody) -> str:
    if body.size == 0:
        return "<p>Then the body: this request has none.</p>\n"
    shown = ""
    if body.size > len(body.preview):
        shown = f" (the first {len(body.preview)} shown)"
    preview = body.preview.decode("utf-8", errors="replace")
    return f"<p>Then the body: {body.size} bytes{shown}.</p>\n<pre>{_escape(preview)}</pre>\n"


def _step_status_line(head: ResponseHead) -> str:
    note = ""
    if not head.exact:
        note = (
            '<p class="note">The server running this application does not provide Ferry\'s '
            "<code>ferry.exchange</code> extension, so the server's additions are not visible: "
            "steps 4 and 5 show the status and the header fields this application sets. The "
            "server writes the status line and adds fields of its own, such as Date.</p>\n"
        )
    return _step(
        "The server answers with the status line",
        "<p>The protocol version, the status code, and a reason phrase for people.</p>\n",
        note,
        _wire([head.status_line]),
    )


def _step_response_headers(head: ResponseHead, headers: Headers) -> str:
    if head.exact:
        own = {name.decode("latin-1") for name, _ in headers}
        names = (line.partition(":")[0] for line in head.field_lines)
        added = ", ".join(name for name in names if name.lower() not in own) or "nothing"
        origin = f"Ferry added: {added}. The application set the others."
    else:
        origin = "The fields this application sets; the server adds its own."
    return _step(
        "It sends its own header fields",
        _wire(head.field_lines),
        f"<p>{_escape(origin)}</p>\n",
    )


def _step_body(content_length: int) -> str:
    content_type = _escape(_CONTENT_TYPE.decode("ascii"))
    return _step(
        "It sends an empty line, then the body",
        f'<pre>{_CRLF}\n<span class="muted">&lt;!doctype html&gt;…</span></pre>\n',
        f"<p>The body is this page: {content_length} bytes of <code>{content_type}</code>, "
        "the format the Content-Type field announces, so your browser draws it as a page "
        "instead of showing its text.</p>\n",
    )


def _step_keep_alive(exchange: FerryExchange | None) -> str:
    title = "It keeps the connection open, or closes it"
    if exchange is None:
        return _step(
            title,
            "<p>This server does not report whether the connection stays open. In HTTP/1.1 "
            "it does, unless either side sends <code>Connection: close</code>.</p>\n",
        )
    count = exchange["requests_on_connection"]
    counter = (
        f'<p class="counter"><strong>{count}</strong> '
        f"request{'' if count == 1 else 's'} on this connection so far, this one included.</p>\n"
    )
    if exchange["keep_alive"]:
        fate = (
            "<p>The connection stays open: keep-alive is the default in HTTP/1.1, and neither "
            "side asked to close it. <strong>Reload the page: the counter goes up on the same "
            "connection.</strong></p>\n"
            '<p class="muted">It starts again at 1 when your browser opens a new connection '
            "(the client port in step 1 changes), and your browser's request for "
            "/favicon.ico counts too.</p>\n"
        )
    else:
        fate = (
            "<p>The server closes the connection after this response: one side asked for it "
            "(<code>Connection: close</code>, or HTTP/1.0 without keep-alive). The next "
            "request opens a new connection and the counter starts again at 1.</p>\n"
        )
    return _step(title, counter, fate)


def _not_found_page(path: str) -> str:
    return _document(
        "404 Not Found",
        "<h1>404 Not Found</h1>\n"
        f"<p>There is no page at <code>{_escape(path)}</code>. "
        'The welcome page is at <a href="/">/</a>.</p>\n',
    )


def _method_not_allowed_page(method: str) -> str:
    return _document(
        "405 Method Not Allowed",
        "<h1>405 Method Not Allowed</h1>\n"
        f"<p><code>/</code> answers GET and HEAD, not <code>{_escape(method)}</code>.</p>\n",
    )
