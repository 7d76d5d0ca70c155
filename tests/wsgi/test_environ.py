"""The PEP 3333 environ, key by key, as a WSGI app receives it over a real socket."""

from __future__ import annotations

import sys
from typing import Any

from ferry.wsgi import FileWrapper, WSGIInput

from ..server._helpers import open_connection
from ..support import serving


class EnvironRecorder:
    """A WSGI app that keeps each environ it was called with (and reads the body)."""

    def __init__(self) -> None:
        self.environs: list[dict[str, Any]] = []
        self.bodies: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.environs.append(environ)
        self.bodies.append(environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]


def environ_of(request: bytes, loop_name: str, **options: Any) -> tuple[dict[str, Any], int, int]:
    app = EnvironRecorder()
    with serving(app, loop_name, **options) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(request)
            assert reader.response().endswith(b"\r\n\r\nok")
            client_port = sock.getsockname()[1]
        port = server.port
    [environ] = app.environs
    return environ, client_port, port


def test_environ_is_exact(loop_name: str) -> None:
    request = (
        b"POST /caf%C3%A9/a%2Fb?x=1&y=%20 HTTP/1.1\r\n"
        b"Host: example.test:8080\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Length: 5\r\n"
        b"X-Dup: 1\r\n"
        b"x-dup: 2\r\n"
        b"Cookie: a=1\r\n"
        b"Cookie: b=2\r\n"
        b"X_Smuggled: yes\r\n"
        b"\r\n"
        b"hello"
    )
    environ, client_port, port = environ_of(request, loop_name, root_path="/app")
    wsgi_input = environ.pop("wsgi.input")
    assert isinstance(wsgi_input, WSGIInput)
    assert environ == {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "/app",
        # The request path below the mount point (a proxy in front stripped "/app"), as
        # Latin-1 text of its bytes, %2F decoded as CGI does.
        "PATH_INFO": "/caf\xc3\xa9/a/b",
        "QUERY_STRING": "x=1&y=%20",
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": "5",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": str(client_port),
        "HTTP_HOST": "example.test:8080",
        "HTTP_X_DUP": "1, 2",
        "HTTP_COOKIE": "a=1; b=2",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
    }


def test_without_root_path(loop_name: str) -> None:
    environ, _, _ = environ_of(b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n", loop_name)
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"], environ["QUERY_STRING"]) == (
        "",
        "/other",
        "",
    )
    assert "CONTENT_LENGTH" not in environ
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"


def test_http_1_0_protocol(loop_name: str) -> None:
    environ, _, _ = environ_of(b"GET / HTTP/1.0\r\n\r\n", loop_name)
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.0"
