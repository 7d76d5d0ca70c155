"""The ASGI early-hints extension: ``http.response.early_hint`` sends 103 Early Hints
(RFC 8297) with one Link field per entry, before the final response."""

from __future__ import annotations

from ferry.asgi import Receive, Scope, Send

from ..server._helpers import FIXED_DATE, error_response
from ..support import exchange, serving

LINKS = [b"</style.css>; rel=preload; as=style", b"</app.js>; rel=preload; as=script"]


async def hinting_app(scope: Scope, receive: Receive, send: Send) -> None:
    assert "http.response.early_hint" in scope["extensions"]
    await send({"type": "http.response.early_hint", "links": LINKS})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


FINAL = (
    b"HTTP/1.1 200 OK\r\n" + FIXED_DATE + b"Server: ferry\r\nContent-Length: 2\r\n"
    b"Connection: close\r\n\r\nok"
)


def test_103_goes_out_before_the_response(loop_name: str) -> None:
    with serving(hinting_app, loop_name) as server:
        response = exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert response == (
        b"HTTP/1.1 103 Early Hints\r\n"
        b"link: </style.css>; rel=preload; as=style\r\n"
        b"link: </app.js>; rel=preload; as=script\r\n\r\n" + FINAL
    )


def test_no_103_to_an_http_1_0_client(loop_name: str) -> None:
    with serving(hinting_app, loop_name) as server:
        response = exchange(server.port, b"GET / HTTP/1.0\r\n\r\n")
    assert response == FINAL  # RFC 9110 §15.2: a server MUST NOT send a 1xx to it


def test_a_hint_after_the_start_or_a_bad_link_is_a_500(loop_name: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/late":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.early_hint", "links": LINKS})
        else:
            await send({"type": "http.response.early_hint", "links": [b"</a>\r\nx-evil: 1"]})

    with serving(app, loop_name) as server:
        for path in (b"/late", b"/injection"):
            request = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path
            assert exchange(server.port, request) == error_response(
                500, "Internal Server Error", "Internal Server Error"
            )
