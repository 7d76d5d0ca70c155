"""Django's ``django.views.static.serve`` through WSGI and ASGI, served by Ferry."""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from ..server._helpers import FIXED_DATE, head, open_connection
from ..support import serving

pytest.importorskip("django")

from . import django_site

DATE = FIXED_DATE.decode().rstrip()

# Django serves a FileResponse to ASGI by iterating the file, and warns that it does.
pytestmark = pytest.mark.filterwarnings(
    "ignore:StreamingHttpResponse must consume synchronous iterators"
)


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


def last_modified(path: Path) -> str:
    return formatdate(int(path.stat().st_mtime), usegmt=True)


def test_static_file(loop_name: str, django_app: Any) -> None:
    source = Path(django_site.FILE)
    data = source.read_bytes()
    with serving(django_app, loop_name) as server:
        response = send(server.port, b"GET /static/django_site.py HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response == (
        head(
            "HTTP/1.1 200 OK",
            "Content-Type: text/x-python",
            'Content-Disposition: inline; filename="django_site.py"',
            f"Last-Modified: {last_modified(source)}",
            DATE,
            "Server: ferry",
            f"Content-Length: {len(data)}",
        )
        + data
    )


def test_static_file_not_modified_has_no_body(loop_name: str, django_app: Any) -> None:
    """A 304 carries no body: the next response on the connection follows its head."""
    stamp = last_modified(Path(django_site.FILE)).encode()
    conditional = (
        b"GET /static/django_site.py HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: %s\r\n\r\n" % stamp
    )
    with serving(django_app, loop_name) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(conditional + b"GET /hello/again HTTP/1.1\r\nHost: x\r\n\r\n")
            not_modified = reader.response()
            after = reader.response()
    assert not_modified.startswith(b"HTTP/1.1 304 Not Modified\r\n")
    assert after.startswith(b"HTTP/1.1 200 OK\r\n")
    assert after.endswith(b"\r\n\r\nhello again None /hello/again")


def test_static_missing_file_is_404(loop_name: str, django_app: Any) -> None:
    with serving(django_app, loop_name) as server:
        response = send(server.port, b"GET /static/missing.py HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 404 Not Found\r\n")


@pytest.mark.parametrize("target", [b"/static/%2e%2e/support.py", b"/static/../support.py"])
def test_static_path_outside_root_is_refused(
    loop_name: str, django_app: Any, target: bytes
) -> None:
    """Django's ``safe_join`` refuses the traversal (SuspiciousFileOperation: 400)."""
    with serving(django_app, loop_name) as server:
        response = send(server.port, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Test support" not in response
