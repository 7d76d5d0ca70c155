"""The client's API as httpx users expect it, against Ferry's server over loopback (and a
mock transport where only the request bytes matter): arguments, URLs, the response's
names, cookies against a server that sets and expects them, multipart parsed by
Starlette."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from ferry import HTTPStatusError, LocalProtocolError, __version__
from ferry.asgi import Receive, Scope, Send
from ferry.client import (
    AsyncClient,
    Client,
    MockRequest,
    MockResponse,
    MockTransport,
    ResponseNotRead,
    Timeouts,
)
from ferry.client._decoders import accept_encoding

from ..support import ServerThread, echo_app, serving
from .test_async_client import run

AGENT = f"ferry/{__version__}"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """echo_app, plus /status/N (status N), /to/PATH (302 to PATH), and a session:
    /login sets cookies (and redirects to /private), /private wants them, /logout
    expires them."""
    if scope["type"] != "http":
        await echo_app(scope, receive, send)
        return
    path: str = scope["path"]
    cookie = dict(scope["headers"]).get(b"cookie", b"")
    status, headers, body = 200, [(b"content-type", b"text/plain")], cookie
    if path.startswith("/status/"):
        status, body = int(path.removeprefix("/status/")), b"status"
    elif path.startswith("/to/"):
        status, headers = 302, [(b"location", path.removeprefix("/to").encode())]
    elif path == "/login":
        status = 303
        headers = [
            (b"location", b"/private"),
            (b"set-cookie", b"session=abc; Path=/; HttpOnly"),
            (b"set-cookie", b"area=1; Path=/area"),
        ]
    elif path == "/logout":
        headers.append((b"set-cookie", b"session=; Max-Age=0; Path=/"))
    elif path == "/private" and b"session=abc" not in cookie:
        status = 401
    elif not path.startswith(("/private", "/area")):
        await echo_app(scope, receive, send)
        return
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with serving(app, max_body_size=1024) as running:
        yield running


def echoed(response: Any) -> dict[str, Any]:
    seen: dict[str, Any] = response.json()
    return seen


def test_request_arguments(server: ServerThread) -> None:
    base = f"http://127.0.0.1:{server.port}/api/"
    with Client(base_url=base, params={"v": "1", "k": "client"}, headers={"X-A": "a"}) as c:
        got = echoed(c.get("items", params={"k": "réq uest", "n": [1, 2], "f": True}))
        assert (got["raw_path"], got["query_string"]) == (
            "/api/items",
            "v=1&k=r%C3%A9q%20uest&n=1&n=2&f=true",
        )
        assert got["headers"] == [
            ["host", f"127.0.0.1:{server.port}"],
            ["user-agent", AGENT],
            ["accept", "*/*"],
            ["connection", "keep-alive"],
            ["accept-encoding", accept_encoding().decode()],
            ["x-a", "a"],
        ]
        got = echoed(c.post("/form", data={"a": "1 2", "b": ["x&y", "é"]}))
        assert got["body"] == "a=1+2&b=x%26y&b=%C3%A9"
        assert ["content-type", "application/x-www-form-urlencoded"] in got["headers"]
        got = echoed(c.put("/j", json={"é": [1, None]}))
        assert got["body"] == '{"é":[1,null]}'.encode().decode("latin-1")
        assert ["content-type", "application/json"] in got["headers"]
        got = echoed(c.patch("/p", content=b"raw", headers={"Content-Type": "a/b"}))
        assert (got["method"], got["body"]) == ("PATCH", "raw")
        assert ["content-type", "a/b"] in got["headers"]
        assert echoed(c.options("/o"))["method"] == "OPTIONS"
        assert echoed(c.delete("/d"))["method"] == "DELETE"
        assert c.head("/h").content == b""
        with pytest.raises(LocalProtocolError):
            c.post("/x", json=1, content=b"2")
        with pytest.raises(LocalProtocolError):
            c.post("/x", content=b"1", body=b"2")


def test_urls_as_browsers_take_them() -> None:
    seen: list[MockRequest] = []

    def handler(request: MockRequest) -> MockResponse:
        seen.append(request)
        return MockResponse(200)

    with Client(transport=MockTransport(handler)) as client:
        client.get("http://Bücher.example/a b/ç?q=é ü&x=%41#frag")
        client.get("http://u%40x:p%3Aw@host.test/", auth=None)
        client.get("http://u:p@host.test/", auth=("other", "pw"))
    assert [str(request.url) for request in seen] == [
        "http://xn--bcher-kva.example/a%20b/%C3%A7?q=%C3%A9%20%C3%BC&x=%41",
        "http://host.test/",
        "http://host.test/",
    ]
    assert seen[0].headers[0] == (b"Host", b"xn--bcher-kva.example")
    assert (b"Authorization", b"Basic dUB4OnA6dw==") in seen[1].headers  # u@x:p:w
    assert (b"Authorization", b"Basic b3RoZXI6cHc=") in seen[2].headers  # other:pw


def test_the_response_as_httpx_has_it(server: ServerThread) -> None:
    url = f"http://127.0.0.1:{server.port}"
    with Client(timeout=5.0) as client:
        assert client.timeouts == Timeouts(5.0, 5.0, 5.0, 5.0)
        response = client.get(f"{url}/status/503", timeout=None)
        assert (response.status_code, response.status, response.reason_phrase) == (
            503,
            503,
            "Service Unavailable",
        )
        assert (response.is_success, response.ok, response.is_error) == (False, False, True)
        assert response.headers.get("Content-Type") == "text/plain"
        assert response.headers["CONTENT-LENGTH"] == "6"
        assert "content-type" in response.headers
        assert response.headers.get("x-none", "default") == "default"
        assert response.headers.get_list("content-type") == ["text/plain"]
        assert isinstance(response.elapsed, timedelta)
        assert response.elapsed.total_seconds() > 0
        assert repr(response) == "<Response [503 Service Unavailable]>"
        with pytest.raises(HTTPStatusError, match=r"^Server error '503 Service Unavailable'"):
            response.raise_for_status()
        redirected = client.get(f"{url}/to/status/201", follow_redirects=True)
        assert redirected.status_code == 201
        assert [str(hop.url) for hop in redirected.history] == [f"{url}/to/status/201"]
        assert redirected.history[0].is_redirect
        assert redirected.request is not None
        assert str(redirected.request.url) == f"{url}/status/201"
        with client.stream("GET", f"{url}/status/200") as streamed:
            with pytest.raises(ResponseNotRead):
                _ = streamed.text
            with pytest.raises(ResponseNotRead):
                streamed.json()
            assert streamed.read() == b"status"
            assert streamed.text() == streamed.text == "status"
            assert streamed.text("utf-16-le") == "瑳瑡獵"
            streamed.encoding = "utf-16-le"
            assert streamed.text == "瑳瑡獵"


def test_headers_a_multi_dict() -> None:
    def handler(request: MockRequest) -> MockResponse:
        fields = [("Set-Cookie", "a=1"), ("X-B", "2"), ("set-cookie", "c=3")]
        return MockResponse(200, fields, b"")

    with Client(transport=MockTransport(handler)) as client:
        headers = client.get("http://mock.test/").headers
    assert headers == [(b"set-cookie", b"a=1"), (b"x-b", b"2"), (b"set-cookie", b"c=3")]
    assert headers.keys() == ["set-cookie", "x-b"]
    assert headers["Set-Cookie"] == "a=1, c=3"
    assert headers.get_list("SET-COOKIE") == ["a=1", "c=3"]
    assert headers.multi_items()[1] == ("x-b", "2")
    assert headers[1] == (b"x-b", b"2")
    assert headers[1:2] == [(b"x-b", b"2")]
    assert ("x-b" in headers, (b"x-b", b"2") in headers, "x-c" in headers) == (True, True, False)
    with pytest.raises(KeyError):
        headers["x-c"]


def test_event_hooks(server: ServerThread) -> None:
    events: list[str] = []

    def on_request(request: Any) -> None:
        events.append(f"request {request.method.decode()} {request.url}")

    def on_response(response: Any) -> None:
        events.append(f"response {response.status_code}")

    hooks = {"request": [on_request], "response": [on_response]}
    url = f"http://127.0.0.1:{server.port}"
    with Client(event_hooks=hooks, follow_redirects=True) as client:
        client.get(f"{url}/to/status/204")
    assert events == [
        f"request GET {url}/to/status/204",
        "response 302",
        f"request GET {url}/status/204",
        "response 204",
    ]


def test_cookies_of_a_session(server: ServerThread) -> None:
    url = f"http://127.0.0.1:{server.port}"
    with Client(follow_redirects=True) as client:
        assert client.get(f"{url}/private").status_code == 401
        # The 303 sets the cookies: the redirected request carries them already.
        response = client.get(f"{url}/login")
        assert (response.status_code, response.text) == (200, "session=abc")
        assert client.cookies.get("session") == "abc"
        assert client.cookies["area"] == "1"
        # RFC 6265 §5.4: the longer path first; none for another host.
        assert client.get(f"{url}/area/x").text == "area=1; session=abc"
        assert client.get(f"http://localhost:{server.port}/area/x").text == ""
        assert client.get(f"{url}/area/x", cookies={"extra": "2"}).text == (
            "extra=2; area=1; session=abc"
        )
        assert client.get(f"{url}/logout").status_code == 200
        assert client.cookies.get("session") is None
        assert client.get(f"{url}/private").status_code == 401
    jar = CookieJar()
    with Client(cookies=jar) as client:
        client.get(f"{url}/login")
    assert sorted(cookie.name for cookie in jar) == ["area", "session"]
    with Client(cookies={"session": "abc"}) as client:
        assert client.get(f"{url}/private").text == "session=abc"


def test_files_parsed_by_starlette(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Route

    from .test_multipart import form

    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,2\n")
    starlette = Starlette(routes=[Route("/form", form, methods=["POST"])])
    with serving(starlette) as running, Client() as client, path.open("rb") as file:
        response = client.post(
            f"http://127.0.0.1:{running.port}/form",
            data={"name": "x"},
            files={"upload": file, "note": ("n.txt", b"hi", "text/plain")},
        )
    assert response.json() == [
        ["name", "x"],
        ["upload", "data.csv", "text/csv", "a,b\n1,2\n"],
        ["note", "n.txt", "text/plain", "hi"],
    ]


def test_the_async_client(server: ServerThread, loop_name: str) -> None:
    url = f"http://127.0.0.1:{server.port}"

    async def on_response(response: Any) -> None:
        statuses.append(response.status_code)

    statuses: list[int] = []

    async def main() -> None:
        hooks = {"response": [on_response]}
        async with AsyncClient(base_url=url, event_hooks=hooks, timeout=5) as client:
            response = await client.post("/a", params={"q": "é"}, json=[1])
            assert (response.json()["query_string"], response.json()["body"]) == (
                "q=%C3%A9",
                "[1]",
            )
            assert await response.text() == response.text
            await client.get("/login", follow_redirects=True)
            assert (await client.get("/private")).text == "session=abc"
            # A body past the server's limit: its early 413 is the answer.
            too_big = await client.put("/up", content=b"z" * (2 << 20))
            assert (too_big.status_code, too_big.kept_alive) == (413, False)
            assert json.loads((await client.get("/up")).content or b"")["method"] == "GET"

    run(loop_name, main())
    assert statuses == [200, 303, 200, 200, 413, 200]
