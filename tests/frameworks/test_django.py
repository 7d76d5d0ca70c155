"""Django through WSGI (and ASGI) served by Ferry over 127.0.0.1: real responses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ..server._helpers import FIXED_DATE, head, open_connection, parse_fields
from ..support import serving

pytest.importorskip("django")

from . import django_site

DATE = FIXED_DATE.decode().rstrip()


@pytest.fixture(params=["wsgi", "asgi"])
def django_app(request: pytest.FixtureRequest) -> Any:
    if request.param == "wsgi":
        from django.core.wsgi import get_wsgi_application

        return get_wsgi_application()
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def send(port: int, data: bytes) -> bytes:
    sock, reader = open_connection(port)
    with sock:
        sock.sendall(data)
        return reader.response()


def test_view(loop_name: str, django_app: Any) -> None:
    with serving(django_app, loop_name, root_path="/site") as server:
        response = send(server.port, b"GET /hello/ferry?q=2 HTTP/1.1\r\nHost: x\r\n\r\n")
    body = b"hello ferry 2 /site/hello/ferry"
    head_bytes, _, rest = response.partition(b"\r\n\r\n")
    assert rest == body
    fields = parse_fields(head_bytes + b"\r\n")
    assert fields[b"content-type"] == b"text/plain"
    assert fields[b"content-length"] == b"%d" % len(body)
    assert head_bytes.startswith(b"HTTP/1.1 200 OK\r\n")


def test_form_post_with_csrf(loop_name: str, django_app: Any) -> None:
    with serving(django_app, loop_name) as server:
        page = send(server.port, b"GET /form HTTP/1.1\r\nHost: x\r\n\r\n")
        cookie = re.search(rb"Set-Cookie: csrftoken=([A-Za-z0-9]+);", page)
        token = re.search(rb"token=([A-Za-z0-9]+)$", page)
        assert cookie is not None
        assert token is not None
        form = b"csrfmiddlewaretoken=%s&name=ferry" % token[1]
        post = (
            b"POST /form HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Cookie: csrftoken=%s\r\nContent-Length: %d\r\n\r\n%s" % (cookie[1], len(form), form)
        )
        accepted = send(server.port, post)
        forged = send(server.port, post.replace(b"csrftoken=", b"csrftoken=x", 1))
    assert accepted.startswith(b"HTTP/1.1 200 OK\r\n")
    assert accepted.endswith(b"\r\n\r\nposted ferry")
    assert forged.startswith(b"HTTP/1.1 403 Forbidden\r\n")


def test_streaming_response(loop_name: str, django_app: Any) -> None:
    with serving(django_app, loop_name) as server:
        response = send(server.port, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    head_bytes, _, body = response.partition(b"\r\n\r\n")
    assert parse_fields(head_bytes + b"\r\n")[b"transfer-encoding"] == b"chunked"
    assert body == b"7\r\npart 0\n\r\n7\r\npart 1\n\r\n7\r\npart 2\n\r\n0\r\n\r\n"


# Django serves a FileResponse to ASGI by iterating the file, and warns that it does.
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_file_response(loop_name: str, django_app: Any) -> None:
    """Django's FileResponse goes through wsgi.file_wrapper (zero-copy) under WSGI."""
    data = Path(django_site.FILE).read_bytes()
    with serving(django_app, loop_name) as server:
        response = send(server.port, b"GET /source HTTP/1.1\r\nHost: x\r\n\r\n")
    head_bytes, _, body = response.partition(b"\r\n\r\n")
    assert parse_fields(head_bytes + b"\r\n")[b"content-length"] == b"%d" % len(data)
    assert body == data


def test_head_of_view_is_exact(loop_name: str) -> None:
    from django.core.wsgi import get_wsgi_application

    with serving(get_wsgi_application(), loop_name) as server:
        response = send(server.port, b"GET /hello/a HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response == (
        head(
            "HTTP/1.1 200 OK",
            "Content-Type: text/plain",
            DATE,
            "Server: ferry",
            "Content-Length: 21",
        )
        + b"hello a None /hello/a"
    )
