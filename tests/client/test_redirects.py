"""Opt-in redirects against a real Ferry server: bounded, methods per RFC 9110 §15.4,
credentials kept to their origin."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ferry import RemoteProtocolError, __version__
from ferry.asgi import Receive, Scope, Send
from ferry.client import Client, TooManyRedirects
from ferry.client._decoders import accept_encoding

from ..support import ServerThread, echo_app, serving

ACCEPT_ENCODING = accept_encoding()  # what this installation decodes


async def redirecting_app(scope: Scope, receive: Receive, send: Send) -> None:
    """/redirect/NNN?LOCATION answers NNN with that Location; anything else echoes."""
    path = scope.get("path", "")
    if scope["type"] == "http" and path.startswith("/redirect/"):
        while (await receive()).get("more_body"):
            pass
        location = scope["query_string"]
        status = int(path.rsplit("/", 1)[1])
        headers = [(b"location", location), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    await echo_app(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with serving(redirecting_app) as running:
        yield running


def seen(response: Any) -> Any:
    return json.loads(response.content or b"")


def test_not_followed_by_default(server: ServerThread) -> None:
    with Client() as client:
        response = client.get(f"http://127.0.0.1:{server.port}/redirect/302?/done")
    assert (response.status, response.header("location")) == (302, "/done")


@pytest.mark.parametrize(
    ("status", "method", "expected_method", "expected_body"),
    [
        (301, "POST", "GET", ""),
        (302, "POST", "GET", ""),
        (303, "PUT", "GET", ""),
        (307, "POST", "POST", "data"),
        (308, "PUT", "PUT", "data"),
        (302, "PUT", "PUT", "data"),
    ],
)
def test_method_and_body_after_a_redirect(
    server: ServerThread, status: int, method: str, expected_method: str, expected_body: str
) -> None:
    url = f"http://127.0.0.1:{server.port}/redirect/{status}?/done"
    headers = {"Content-Type": "text/plain"}
    with Client(follow_redirects=True) as client:
        response = client.request(method, url, body=b"data", headers=headers)
    echoed = seen(response)
    assert (echoed["method"], echoed["path"], echoed["body"]) == (
        expected_method,
        "/done",
        expected_body,
    )
    assert (["content-type", "text/plain"] in echoed["headers"]) == bool(expected_body)
    assert response.url.target == b"/done"


def test_credentials_stay_with_their_origin(server: ServerThread) -> None:
    headers = {"Authorization": "Bearer secret", "Cookie": "a=1", "X-Other": "kept"}
    same = f"http://127.0.0.1:{server.port}/redirect/302?/same"
    other = f"http://127.0.0.1:{server.port}/redirect/302?http://localhost:{server.port}/other"
    with Client(follow_redirects=True) as client:
        kept = seen(client.get(same, headers=headers))["headers"]
        dropped = seen(client.get(other, headers=headers))["headers"]
    assert ["authorization", "Bearer secret"] in kept
    assert ["cookie", "a=1"] in kept
    assert dropped == [
        ["host", f"localhost:{server.port}"],
        ["user-agent", f"ferry/{__version__}"],
        ["accept", "*/*"],
        ["connection", "keep-alive"],
        ["accept-encoding", ACCEPT_ENCODING.decode()],
        ["x-other", "kept"],
    ]


def test_redirects_are_bounded(server: ServerThread) -> None:
    # Two redirects in a row: /redirect/302?/redirect/302?/done -> /redirect/302?/done -> /done
    url = f"http://127.0.0.1:{server.port}/redirect/302?/redirect/302?/done"
    with Client(follow_redirects=True, max_redirects=1) as client:
        with pytest.raises(TooManyRedirects):
            client.get(url)
        assert client.pool.open_connections == 0
    with Client(follow_redirects=True, max_redirects=2) as client:
        assert seen(client.get(url))["path"] == "/done"


def test_a_streamed_body_is_not_sent_twice(server: ServerThread) -> None:
    url = f"http://127.0.0.1:{server.port}/redirect/307?/done"
    with Client(follow_redirects=True) as client:
        response = client.post(url, body=iter([b"once"]))
    assert response.status == 307


def test_redirect_to_another_scheme_is_refused(server: ServerThread) -> None:
    url = f"http://127.0.0.1:{server.port}/redirect/302?ftp://example.com/"
    with Client(follow_redirects=True) as client, pytest.raises(RemoteProtocolError):
        client.get(url)
