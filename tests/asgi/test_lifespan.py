"""The ASGI lifespan protocol (lifespan spec 2.0) in its three modes: ``on`` requires it,
``auto`` tolerates an app without it, ``off`` never starts it."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from ferry import Config, Server
from ferry.asgi import ASGIApp, LifespanFailure, Message, Receive, Scope, Send

from ..server._helpers import open_connection
from ..support import new_loop, serving


class LifespanApp:
    """Answers lifespan messages as told by ``answers``; HTTP gets 200 ``up``."""

    def __init__(self, answers: dict[str, str | None] | None = None) -> None:
        self.answers = answers or {}
        self.lifespan_scopes: list[Scope] = []
        self.received: list[str] = []
        self.http_calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.http_calls += 1
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"up"})
            return
        self.lifespan_scopes.append(scope)
        while True:
            message = await receive()
            kind = message["type"]
            self.received.append(kind)
            answer = self.answers.get(kind, kind + ".complete")
            if answer == "raise":
                raise RuntimeError(f"failed at {kind}")
            if answer is None:
                return
            reply: Message = {"type": answer}
            if answer.endswith(".failed"):
                reply["message"] = "no database"
            await send(reply)
            if kind == "lifespan.shutdown" or answer.endswith(".failed"):
                return


def startup_fails(app: ASGIApp, loop_name: str, **options: Any) -> LifespanFailure:
    """Run ``Server.serve()`` (on this thread's new loop) to its startup failure."""
    server = Server(Config(port=0, log_level="warning", **options), app)
    loop = new_loop(loop_name)
    try:
        with pytest.raises(LifespanFailure) as failure:
            loop.run_until_complete(server.serve())
    finally:
        loop.close()
    assert server.sockets == []  # it never listened
    return failure.value


def serves(app: ASGIApp, loop_name: str, **options: Any) -> bytes:
    with serving(app, loop_name, **options) as server:
        sock, reader = open_connection(server.port)
        with sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            return reader.to_close()


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_and_shutdown_run_around_serving(loop_name: str, mode: str) -> None:
    app = LifespanApp()
    assert serves(app, loop_name, lifespan=mode).endswith(b"\r\n\r\nup")
    assert app.received == ["lifespan.startup", "lifespan.shutdown"]
    [scope] = app.lifespan_scopes
    assert scope == {
        "type": "lifespan",
        "asgi": {"version": "3.0", "spec_version": "2.0"},
        "state": {},
    }


def test_off_never_calls_the_app_for_lifespan(loop_name: str) -> None:
    app = LifespanApp()
    assert serves(app, loop_name, lifespan="off").endswith(b"\r\n\r\nup")
    assert app.lifespan_scopes == []


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_failure_stops_the_server(loop_name: str, mode: str) -> None:
    # Lifespan spec: after lifespan.startup.failed the server must exit, in any mode.
    app = LifespanApp({"lifespan.startup": "lifespan.startup.failed"})
    assert str(startup_fails(app, loop_name, lifespan=mode)) == "no database"


def test_on_an_app_raising_in_startup_stops_the_server(
    loop_name: str, error_log: list[logging.LogRecord]
) -> None:
    app = LifespanApp({"lifespan.startup": "raise"})
    failure = startup_fails(app, loop_name, lifespan="on")
    assert str(failure) == "RuntimeError('failed at lifespan.startup')"
    assert [r.getMessage() for r in error_log] == ["exception in lifespan protocol"]


def test_auto_tolerates_an_app_that_raises_on_lifespan(
    loop_name: str, error_log: list[logging.LogRecord]
) -> None:
    app = LifespanApp({"lifespan.startup": "raise"})
    assert serves(app, loop_name, lifespan="auto").endswith(b"\r\n\r\nup")
    assert app.received == ["lifespan.startup"]  # and no shutdown is sent
    assert error_log == []  # not an error in auto mode


def test_auto_tolerates_an_app_that_returns_from_lifespan(loop_name: str) -> None:
    app = LifespanApp({"lifespan.startup": None})
    assert serves(app, loop_name, lifespan="auto").endswith(b"\r\n\r\nup")
    assert app.received == ["lifespan.startup"]


def test_shutdown_failure_is_logged(loop_name: str, error_log: list[logging.LogRecord]) -> None:
    app = LifespanApp({"lifespan.shutdown": "lifespan.shutdown.failed"})
    assert serves(app, loop_name).endswith(b"\r\n\r\nup")
    assert app.received == ["lifespan.startup", "lifespan.shutdown"]
    assert [r.getMessage() for r in error_log] == ["application shutdown failed: no database"]
