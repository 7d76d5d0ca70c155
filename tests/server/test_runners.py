"""Runner tasks (ServerState.run_app): one task may run the apps of several requests, one
after another, and each app still behaves as if it had a task of its own: it starts in
the server's context, it is never held up by an app waiting before it, and it never
inherits a cancellation meant for another."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import select
import threading

import pytest

from ferry.asgi import Receive, Scope, Send

from ..support import connect, serving
from ._helpers import FIXED_DATE, Gate, Reader, error_response, head

REQUEST = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
seen_by_app: contextvars.ContextVar[str] = contextvars.ContextVar("seen_by_app")


def request(*paths: str) -> bytes:
    return b"".join(REQUEST % path.encode() for path in paths)


def ok(body: bytes) -> bytes:
    return (
        head(
            "HTTP/1.1 200 OK",
            FIXED_DATE.decode().rstrip(),
            "Server: ferry",
            f"Content-Length: {len(body)}",
        )
        + body
    )


async def answer(send: Send, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def context_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the context variable as the app found it, then sets it."""
    found = seen_by_app.get("unset")
    seen_by_app.set(scope["path"])
    await answer(send, found.encode())


def test_each_app_starts_in_the_servers_context(loop_name: str) -> None:
    # Pipelined requests (queued from inside the previous app's task) and requests on
    # other connections alike: none sees what an earlier app set.
    with serving(context_app, loop_name) as server, connect(server.port) as sock:
        sock.sendall(request("/a", "/b", "/c"))
        reader = Reader(sock)
        assert [reader.response() for _ in range(3)] == [ok(b"unset")] * 3
        with connect(server.port) as other:
            other.sendall(request("/d"))
            assert Reader(other).response() == ok(b"unset")


def test_an_app_waiting_after_its_response_does_not_hold_up_the_next(loop_name: str) -> None:
    # /hold answers, then waits (as a background task would) for /release, the request
    # pipelined behind it: one runner for both would wait forever.
    released: dict[str, asyncio.Event] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        event = released.setdefault("event", asyncio.Event())
        await answer(send, scope["path"].encode())
        if scope["path"] == "/hold":
            await event.wait()
        else:
            event.set()

    with serving(app, loop_name) as server, connect(server.port) as sock:
        sock.sendall(request("/hold", "/release", "/after"))
        reader = Reader(sock)
        assert [reader.response() for _ in range(3)] == [
            ok(b"/hold"),
            ok(b"/release"),
            ok(b"/after"),
        ]


def test_an_app_waiting_before_its_response_does_not_hold_up_other_connections(
    loop_name: str,
) -> None:
    gate = Gate()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/wait":
            await gate.wait()
        await answer(send, scope["path"].encode())

    with serving(app, loop_name) as server, gate, connect(server.port) as waiting:
        waiting.sendall(request("/wait"))
        gate.arrived()
        with connect(server.port) as other:
            other.sendall(request("/go", "/go"))
            reader = Reader(other)
            assert [reader.response(), reader.response()] == [ok(b"/go")] * 2
        gate.open()
        assert Reader(waiting).response() == ok(b"/wait")


def test_requests_that_arrive_together_are_not_held_up_by_the_first(loop_name: str) -> None:
    # While /hog blocks the loop, a request arrives on each of two connections: the loop
    # then reads both in one pass and queues both. The first app to run waits; the
    # other must not wait behind it.
    gate = Gate()
    hogging, unblock = threading.Event(), threading.Event()
    started: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/hog":
            hogging.set()
            assert unblock.wait(5.0)  # blocks the whole loop, on purpose
        elif scope["path"] == "/x":
            started.append("x")
            if len(started) == 1:
                await gate.wait()
                await answer(send, b"first")
                return
            await answer(send, b"second")
            return
        await answer(send, scope["path"].encode())

    with (
        serving(app, loop_name) as server,
        gate,
        connect(server.port) as hog,
        connect(server.port) as one,
        connect(server.port) as two,
    ):
        for sock in (one, two):  # accepted and read from: their next bytes are read
            sock.sendall(request("/warm"))  # as soon as the loop polls again
            assert Reader(sock).response() == ok(b"/warm")
        hog.sendall(request("/hog"))
        assert hogging.wait(5.0)
        one.sendall(request("/x"))
        two.sendall(request("/x"))
        unblock.set()
        assert Reader(hog).response() == ok(b"/hog")
        readable, _, _ = select.select([one, two], [], [], 5.0)
        assert len(readable) == 1, "the second request waited behind the first"
        assert Reader(readable[0]).response() == ok(b"second")
        gate.open()
        (first,) = {one, two} - set(readable)
        assert Reader(first).response() == ok(b"first")


@pytest.mark.parametrize("how", ["cancel", "cancel-uncancel", "cancel-swallow"])
def test_a_cancellation_is_not_passed_on(loop_name: str, how: str) -> None:
    # The first app asks for its task's cancellation and returns before it is delivered
    # (with uncancel() too: on Python 3.11 the request then stays pending), or catches
    # it. The next app must neither receive it nor see its task counted as cancelling.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        if scope["path"] == "/cancel":
            task.cancel()
            if how == "cancel-uncancel":
                task.uncancel()
            elif how == "cancel-swallow":
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(0)
        else:
            await asyncio.sleep(0)
        await answer(send, b"%d" % task.cancelling())

    with serving(app, loop_name) as server, connect(server.port) as sock:
        sock.sendall(request("/cancel", "/next"))
        reader = Reader(sock)
        assert reader.response() == ok(b"0" if how == "cancel-uncancel" else b"1")
        assert reader.response() == ok(b"0")


def test_an_app_that_raises_cancelled_error_gets_a_500(loop_name: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/raise":
            raise asyncio.CancelledError
        await answer(send, b"fine")

    with serving(app, loop_name) as server:
        with connect(server.port) as sock:
            sock.sendall(request("/raise", "/never"))
            assert Reader(sock).to_close() == error_response(
                500, "Internal Server Error", "Internal Server Error"
            )
        with connect(server.port) as sock:  # the server goes on
            sock.sendall(request("/"))
            assert Reader(sock).response() == ok(b"fine")


@pytest.mark.parametrize("task_per_request", [False, True])
def test_tasks_per_request(loop_name: str, task_per_request: bool) -> None:
    # By default one task runs the apps of a pipeline; task_per_request gives each its
    # own. (The tasks are kept, so that no id is reused.)
    tasks: list[asyncio.Task[object]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            task = asyncio.current_task()
            assert task is not None
            tasks.append(task)
            await answer(send, b"ok")

    with (
        serving(app, loop_name, task_per_request=task_per_request) as server,
        connect(server.port) as sock,
    ):
        sock.sendall(request("/", "/", "/"))
        reader = Reader(sock)
        assert [reader.response() for _ in range(3)] == [ok(b"ok")] * 3
    assert len(tasks) == 3
    assert len({id(task) for task in tasks}) == (3 if task_per_request else 1)
