"""Interface detection (ASGI 3, ASGI 2, WSGI) from an app's shape, and ``--interface``."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from ferry import Config, ConfigError
from ferry.asgi import Receive, Scope, Send
from ferry.asgi._asgi2 import ASGI2Adapter
from ferry.server._loader import adapt_app, detect_interface
from ferry.wsgi import WSGIAdapter

from ..server._helpers import open_connection
from ..support import serving


async def asgi3_function(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi3"})


class ASGI3Class:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await asgi3_function(scope, receive, send)


class ASGI2Class:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"asgi2 " + self.scope["path"].encode()})


def asgi2_function(scope: Scope) -> Any:
    return ASGI2Class(scope)


def wsgi_function(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b"wsgi " + environ["PATH_INFO"].encode()]


class WSGIClass:
    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return wsgi_function(environ, start_response)


class WSGIIterableClass:
    """The PEP 3333 class shape: the constructor is the app, the instance the iterable."""

    def __init__(self, environ: dict[str, Any], start_response: Any) -> None:
        start_response("200 OK", [])

    def __iter__(self) -> Any:
        yield b"wsgi class"


def wsgi_with_defaults(environ: dict[str, Any], start_response: Any, extra: int = 0) -> Any:
    return wsgi_function(environ, start_response)


def test_shapes() -> None:
    flask = pytest.importorskip("flask")
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler

    assert detect_interface(asgi3_function) == "asgi3"
    assert detect_interface(ASGI3Class()) == "asgi3"
    assert detect_interface(functools.partial(asgi3_function)) == "asgi3"
    assert detect_interface(ASGI2Class) == "asgi2"
    assert detect_interface(asgi2_function) == "asgi2"
    assert detect_interface(wsgi_function) == "wsgi"
    assert detect_interface(WSGIClass()) == "wsgi"
    assert detect_interface(WSGIIterableClass) == "wsgi"
    assert detect_interface(flask.Flask("shapes")) == "wsgi"
    # Django's handlers need settings to be built; their shape is their class's __call__.
    assert detect_interface(object.__new__(WSGIHandler)) == "wsgi"
    assert detect_interface(object.__new__(ASGIHandler)) == "asgi3"
    assert detect_interface(lambda *args: None) == "asgi3"  # no countable signature


def test_adapt_wraps_by_interface() -> None:
    assert adapt_app(asgi3_function) is asgi3_function
    assert isinstance(adapt_app(ASGI2Class), ASGI2Adapter)
    wsgi = adapt_app(wsgi_function, threads=3)
    assert isinstance(wsgi, WSGIAdapter)
    assert wsgi.threads == 3
    forced = adapt_app(wsgi_with_defaults, "wsgi")
    assert isinstance(forced, WSGIAdapter)  # 3 parameters would say ASGI 3
    assert adapt_app(wsgi_function, "asgi3") is wsgi_function


@pytest.mark.parametrize(
    ("app", "interface", "body"),
    [
        (asgi3_function, "auto", b"asgi3"),
        (ASGI3Class(), "auto", b"asgi3"),
        (ASGI2Class, "auto", b"asgi2 /p"),
        (asgi2_function, "asgi2", b"asgi2 /p"),
        (wsgi_function, "auto", b"wsgi /p"),
        (WSGIClass(), "auto", b"wsgi /p"),
        (WSGIIterableClass, "auto", b"a\r\nwsgi class\r\n0\r\n\r\n"),
        (wsgi_with_defaults, "wsgi", b"wsgi /p"),
    ],
)
def test_each_shape_is_served(loop_name: str, app: Any, interface: str, body: bytes) -> None:
    with serving(app, loop_name, interface=interface) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n")
            assert reader.response().endswith(b"\r\n\r\n" + body)


def test_interface_and_threads_are_checked() -> None:
    with pytest.raises(ConfigError, match="interface must be one of auto, asgi3, asgi2, wsgi"):
        Config(interface="asgi")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="threads must be at least 1"):
        Config(threads=0)


def test_cli_has_the_flags() -> None:
    from ferry._cli import build_parser

    args = build_parser().parse_args(["serve", "m:app", "--interface", "wsgi", "--threads", "4"])
    assert (args.interface, args.threads) == ("wsgi", 4)
