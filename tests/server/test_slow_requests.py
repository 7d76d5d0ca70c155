"""``--slow-request-log S``: a request still running S seconds after its head came is
logged once, at warning level, with its phase and where the application is: the
awaiting chain of an ASGI app's coroutines, the stack of a WSGI app's thread."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from ferry import Config
from ferry._errors import ConfigError
from ferry.asgi import Receive, Scope, Send
from ferry.http1 import State
from ferry.server._slow_requests import awaiting, find_slow_requests, phase, where
from ferry.wsgi import WSGIAdapter

from ..support import LogLines, connect, log_lines, read_response, serving

AFTER = 0.3  # seconds: --slow-request-log
HERE = re.escape(__file__)
SLOW = r"slow request: GET {path} from 127\.0\.0\.1:\d+, running for \d+\.\d s, {phase}; "


class Gates:
    """Futures the ASGI app parks on, opened from the test's thread."""

    def __init__(self) -> None:
        self.parked: list[asyncio.Future[None]] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    def open_all(self) -> None:
        assert self.loop is not None
        for gate in self.parked:
            self.loop.call_soon_threadsafe(gate.set_result, None)


async def parked_here(gate: asyncio.Future[None]) -> None:
    await gate


def asgi_app(gates: Gates) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        path = scope["path"]
        gates.loop = asyncio.get_running_loop()
        if path == "/body":
            while (await receive()).get("more_body"):
                pass  # waits for the body the client holds back
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        else:
            headers = [(b"content-length", b"4")] if path == "/writing" else []
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if path == "/writing":
                await send({"type": "http.response.body", "body": b"ok", "more_body": True})
            if path != "/fast":
                gate = gates.loop.create_future()
                gates.parked.append(gate)
                await parked_here(gate)
            await send({"type": "http.response.body", "body": b"ok"})

    return app


@pytest.fixture
def warnings() -> Iterator[LogLines]:
    with log_lines("ferry.error", logging.WARNING) as log:
        yield log


def send(port: int, request: bytes) -> socket.socket:
    sock = connect(port)
    sock.sendall(request)
    return sock


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()


def awaiting_chain(path: str, phase: str = "in the app") -> str:
    return SLOW.format(path=path, phase=phase) + (
        r"the application awaits \(most recent call last\):\n"
        rf'  File "{HERE}", line \d+, in app\n'
        r"    await parked_here\(gate\)\n"
        rf'  File "{HERE}", line \d+, in parked_here\n'
        r"    await gate\n"
        r"  awaiting <Future pending cb=\[.*\]>\n"
    )


def test_an_asgi_request_is_logged_once_with_its_awaiting_chain(
    loop_name: str, warnings: LogLines
) -> None:
    gates = Gates()
    with serving(asgi_app(gates), loop_name, lifespan="off", slow_request_log=AFTER) as server:
        with send(server.port, get("/fast")) as fast:  # done in time: no line
            assert read_response(fast)[1] == b"ok"
        first = send(server.port, get("/slow"))
        warnings.wait(1)
        # Reported at least one look later than the first: had the first been logged
        # again, its line would be among these two.
        second = send(server.port, get("/other"))
        lines = warnings.wait(2)
        gates.open_all()
        for sock in (first, second):
            with sock:
                assert read_response(sock)[1] == b"ok"
    assert re.fullmatch(awaiting_chain("/slow"), lines[0]), lines[0]
    assert re.fullmatch(awaiting_chain("/other"), lines[1]), lines[1]
    assert len(warnings.lines) == 2


def test_the_phases_reading_the_body_and_writing_the_response(
    loop_name: str, warnings: LogLines
) -> None:
    gates = Gates()
    with serving(asgi_app(gates), loop_name, lifespan="off", slow_request_log=AFTER) as server:
        post = b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab"
        with send(server.port, post) as body:
            [reading] = warnings.wait(1)
            body.sendall(b"cdefghij")
            assert read_response(body)[1] == b"ok"
        with send(server.port, get("/writing")) as writing:
            [_, written] = warnings.wait(2)
            gates.open_all()
            assert read_response(writing)[1] == b"okok"
    assert reading.startswith("slow request: POST /body from 127.0.0.1:"), reading
    assert ", reading the body; the application awaits (most recent call last):\n" in reading
    assert re.fullmatch(awaiting_chain("/writing", "writing the response"), written), written


def blocked_here(event: threading.Event) -> None:
    event.wait(10)


def test_a_wsgi_request_is_logged_with_its_threads_stack(
    loop_name: str, warnings: LogLines
) -> None:
    release = threading.Event()

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        blocked_here(release)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    app = WSGIAdapter(wsgi_app, threads=1)
    with (
        serving(app, loop_name, lifespan="off", slow_request_log=AFTER) as server,
        send(server.port, get("/wsgi")) as sock,
    ):
        [line] = warnings.wait(1)
        release.set()
        assert read_response(sock)[1] == b"ok"
    head = SLOW.format(path="/wsgi", phase="in the app") + (
        r"the application's thread 'ferry-wsgi-0' is at \(most recent call last\):\n"
        r'  File ".*/ferry/wsgi/_adapter\.py", line \d+, in run\n'
    )
    assert re.match(head, line), line
    tail = (
        rf'  File "{HERE}", line \d+, in wsgi_app\n'
        r"    blocked_here\(release\)\n"
        rf'  File "{HERE}", line \d+, in blocked_here\n'
        r"    event\.wait\(10\)\n"
        r'  File ".*/threading\.py", line \d+, in wait\n'
    )
    assert re.search(tail, line), line
    assert warnings.lines == [line]


def test_off_by_default_and_never_negative() -> None:
    assert Config().slow_request_log == 0
    with pytest.raises(ConfigError, match="slow_request_log must be 0 \\(off\\) or positive"):
        Config(slow_request_log=-1)


# -- the parts, one at a time -----------------------------------------------------------


def test_the_phase_says_when_the_client_is_not_reading() -> None:
    conn = SimpleNamespace(response_started=True, their_state=State.DONE)
    protocol: Any = SimpleNamespace(conn=conn, write_paused=True)
    assert phase(protocol) == "writing the response (the client is not reading it)"


def test_a_request_no_task_or_thread_holds() -> None:
    state: Any = SimpleNamespace(tasks=set())
    assert where(state, {"type": "http"}) == "no task or thread of the application holds it"


def test_idle_connections_and_a_request_without_its_head() -> None:
    class Cycle:  # hashable, as a RequestCycle is
        start_time = 0.0
        scope = {"type": "http"}  # noqa: RUF012

    cycle = Cycle()
    conn = SimpleNamespace(request=None, response_started=False, their_state=State.DONE)
    busy = SimpleNamespace(cycle=cycle, conn=conn, request_client=None)
    idle = SimpleNamespace(cycle=None)
    state: Any = SimpleNamespace(connections=[idle, busy], tasks=set())
    with log_lines("ferry.error", logging.WARNING) as log:
        assert find_slow_requests(state, 1.0, set()) == {cycle}
        assert find_slow_requests(state, 1.0, {cycle}) == {cycle}  # once
    [line] = log.lines
    assert re.fullmatch(
        r"slow request: - from a UNIX socket client, running for \d+\.\d s, in the app; "
        r"no task or thread of the application holds it",
        line,
    )


def test_the_chain_follows_generators_and_stops_at_what_awaits_nothing() -> None:
    def inner() -> Iterator[int]:
        yield 1

    def outer() -> Iterator[int]:
        yield from inner()

    generator = outer()
    next(generator)
    chain = list(awaiting(generator))
    assert [link.gi_code.co_name for link in chain[:2]] == ["outer", "inner"]  # type: ignore[attr-defined]
    assert len(chain) == 2
    assert list(awaiting(42)) == [42]


def test_a_compiled_coroutines_awaited_one_is_found_among_its_referents() -> None:
    async def app() -> None:
        await asyncio.sleep(0)

    class Compiled:  # what a mypyc coroutine offers: send and throw, no cr_await
        __slots__ = ("env",)

        def __init__(self, env: object) -> None:
            self.env = env

        def send(self, value: object) -> None: ...

        def throw(self, exc: BaseException) -> None: ...

    coroutine = app()
    try:
        direct, nested, empty = Compiled(coroutine), Compiled([coroutine]), Compiled([])
        assert list(awaiting(direct)) == [direct, coroutine]
        assert list(awaiting(nested)) == [nested, coroutine]  # two levels down
        assert list(awaiting(empty)) == [empty]
    finally:
        coroutine.close()
