"""Applications for ``ferry serve`` subprocesses (imported as ``tests.server._apps:NAME``).

Lifespan events are printed to stdout, where the access log also goes, so a test can see
their order relative to the requests.
"""

from __future__ import annotations

import gc
import json
import weakref

from ferry.asgi import ASGIApp, Receive, Scope, Send


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        kind = message["type"].removeprefix("lifespan.")
        print(f"lifespan {kind}", flush=True)
        await send({"type": message["type"] + ".complete"})
        if kind == "shutdown":
            return


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Lifespan printed; HTTP answered with the request body after ``<method> <path>: ``."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = f"{scope['method']} {scope['path']}: ".encode() + body
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": answer})


def make_echo() -> ASGIApp:
    """A factory (``--factory``): returns the echo app."""
    return echo


async def fails_startup(scope: Scope, receive: Receive, send: Send) -> None:
    """Reports lifespan startup failure."""
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "no database"})


async def raises_on_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """Has no lifespan support (raises on that scope); answers HTTP with ``up``."""
    if scope["type"] != "http":
        raise RuntimeError("only http here")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"up"})


async def addresses(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the scope's client, server and root_path as JSON."""
    if scope["type"] != "http":
        raise RuntimeError("only http here")
    keys = ("client", "server", "root_path", "path")
    answer = json.dumps({key: scope[key] for key in keys}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": answer})


not_callable = 42


async def crashes(scope: Scope, receive: Receive, send: Send) -> None:
    """Raises on every HTTP request (after reading it)."""
    if scope["type"] != "http":
        raise RuntimeError("only http here")
    await receive()
    raise RuntimeError("crash")


class _Node:
    """A reference cycle's member (a plain object, so a weak reference can watch it)."""

    def __init__(self) -> None:
        self.me = self


_watched: list[weakref.ref[_Node]] = []


async def gc_state(scope: Scope, receive: Receive, send: Send) -> None:
    """The collector's settings as JSON. ``/cycle`` first makes a reference cycle and
    watches it; ``/churn`` then allocates enough to run a young collection, and the
    answer says whether the cycle was collected."""
    assert scope["type"] == "http"
    if scope["path"] == "/cycle":
        _watched.append(weakref.ref(_Node()))
    elif scope["path"] == "/churn":
        held = [{} for _ in range(50_000)]
        del held
    state = {
        "enabled": gc.isenabled(),
        "threshold": list(gc.get_threshold()),
        "frozen": gc.get_freeze_count(),
        "cycles_alive": sum(ref() is not None for ref in _watched),
    }
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(state).encode()})
