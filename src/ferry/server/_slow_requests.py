"""``--slow-request-log S``: a request still running S seconds after its head arrived
is logged once, at warning level, with what it is, how long it has run, its phase, and
where the application is.

It complements the workers' watchdog, which catches an event loop that stopped turning:
this catches the request that awaits (or blocks its thread) forever while the loop
turns. One task per server looks at the requests in flight every S/2 seconds (a request
is reported between S and 1.5 S): nothing is done per request, with the log off or on.

Where the application is:

* a WSGI app: the stack of the pool thread running the request
  (``sys._current_frames()``, found by the frame of its job, ``wsgi.running_scope``);
* an ASGI app: the chain of coroutines its task awaits, outermost first, from the first
  one that holds the request's scope (the app, or the outermost middleware), following
  ``cr_await`` (``task.get_stack()`` shows only the outermost frame). The runner that
  calls the app is compiled by the accelerator, and a compiled coroutine has no
  ``cr_await``: the coroutine it awaits is found among the objects it refers to.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import traceback
from collections.abc import Iterator
from time import perf_counter
from types import CoroutineType, FrameType, GeneratorType
from typing import TYPE_CHECKING

from ..http1 import State
from ..wsgi._adapter import running_scope

if TYPE_CHECKING:
    from ..asgi._cycle import RequestCycle
    from ._protocol import HTTPProtocol
    from ._state import ServerState

__all__ = ["find_slow_requests", "watch_slow_requests"]

logger = logging.getLogger("ferry.error")

_MAX_CHAIN = 64  # links of an awaiting chain followed (a cycle of awaits cannot loop us)


async def watch_slow_requests(state: ServerState, after: float) -> None:
    """Every ``after / 2`` seconds, log the requests that have run ``after`` seconds."""
    reported: set[RequestCycle] = set()
    while True:
        await asyncio.sleep(after / 2)
        reported = find_slow_requests(state, after, reported)


def find_slow_requests(
    state: ServerState, after: float, reported: set[RequestCycle]
) -> set[RequestCycle]:
    """Log each request in flight that has run ``after`` seconds and is not in
    ``reported``; the requests reported that are still in flight (for the next look)."""
    now = perf_counter()
    still: set[RequestCycle] = set()
    for protocol in list(state.connections):
        cycle = protocol.cycle
        if cycle is None:
            continue
        if cycle in reported:
            still.add(cycle)
        elif now - cycle.start_time >= after:
            still.add(cycle)
            logger.warning("%s", describe(state, protocol, cycle, now - cycle.start_time))
    return still


def describe(
    state: ServerState, protocol: HTTPProtocol, cycle: RequestCycle, elapsed: float
) -> str:
    """The slow request's log message: what, from whom, for how long, its phase, where."""
    request = protocol.conn.request
    what = "-"
    if request is not None:
        what = f"{request.method.decode('latin-1')} {request.target.decode('latin-1')}"
    client = protocol.request_client
    who = f"{client[0]}:{client[1]}" if client else "a UNIX socket client"
    head = f"slow request: {what} from {who}, running for {elapsed:.1f} s, {phase(protocol)}"
    return f"{head}; {where(state, cycle.scope)}"


def phase(protocol: HTTPProtocol) -> str:
    """Where the exchange is: writing the response (its head is on the wire), reading
    the body (not all of it has come), or in the app (which has the whole request)."""
    conn = protocol.conn
    if conn.response_started:
        if protocol.write_paused:
            return "writing the response (the client is not reading it)"
        return "writing the response"
    if conn.their_state is State.SEND_BODY:
        return "reading the body"
    return "in the app"


def where(state: ServerState, scope: object) -> str:
    """Where the application is for the request of ``scope``: its thread's stack, or
    its task's awaiting chain, formatted as a traceback (most recent call last)."""
    thread = _thread_stack(scope)
    if thread is not None:
        name, frames = thread
        stack = "".join(traceback.StackSummary.extract(frames, lookup_lines=True).format())
        return f"the application's thread {name!r} is at (most recent call last):\n{stack}"
    chain = _task_chain(state, scope)
    if chain:
        return f"the application awaits (most recent call last):\n{''.join(chain)}"
    return "no task or thread of the application holds it"


def _thread_stack(scope: object) -> tuple[str, list[tuple[FrameType, int]]] | None:
    """(name, frames from its job's down to the innermost) of the thread running the
    request of ``scope``, or None."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    me = threading.get_ident()
    for ident, top in sys._current_frames().items():
        if ident == me:
            continue
        frames: list[tuple[FrameType, int]] = []
        frame: FrameType | None = top
        while frame is not None:
            frames.append((frame, frame.f_lineno))
            if running_scope(frame) is scope:
                frames.reverse()
                return names.get(ident, str(ident)), frames
            frame = frame.f_back
    return None


def _task_chain(state: ServerState, scope: object) -> list[str]:
    """The lines of the awaiting chain of the task whose coroutines hold ``scope``,
    from the outermost that does; empty if no task does."""
    for task in list(state.tasks):
        links = list(awaiting(task.get_coro()))
        for index, link in enumerate(links):
            frame = _frame(link)
            if frame is not None and any(value is scope for value in frame.f_locals.values()):
                return [_describe_link(item) for item in links[index:]]
    return []


def awaiting(coroutine: object) -> Iterator[object]:
    """``coroutine``, what it awaits, what that awaits, ... (at most ``_MAX_CHAIN``)."""
    link: object = coroutine
    for _ in range(_MAX_CHAIN):
        if link is None:
            return
        yield link
        if isinstance(link, CoroutineType):
            link = link.cr_await
        elif isinstance(link, GeneratorType):
            link = link.gi_yieldfrom
        elif hasattr(link, "send") and hasattr(link, "throw"):
            link = _referred_coroutine(link)  # compiled: no cr_await
        else:
            return  # a Future, or an awaitable that awaits nothing further


def _referred_coroutine(compiled: object) -> object:
    """The coroutine a compiled one awaits: among the objects its environment (the
    compiled locals) refers to, two levels down at most; None if none is."""
    level = [compiled]
    for _ in range(2):
        level = [child for parent in level for child in gc.get_referents(parent)]
        for child in level:
            if isinstance(child, CoroutineType | GeneratorType):
                return child
    return None


def _frame(link: object) -> FrameType | None:
    if isinstance(link, CoroutineType):
        return link.cr_frame
    if isinstance(link, GeneratorType):
        return link.gi_frame
    return None


def _describe_link(link: object) -> str:
    frame = _frame(link)
    if frame is None:
        # A Future is awaited through its iterator: name the Future.
        futures = [r for r in gc.get_referents(link) if isinstance(r, asyncio.Future)]
        text = repr(futures[0] if futures and not isinstance(link, asyncio.Future) else link)
        return f"  awaiting {text[:200]}\n"
    code = frame.f_code
    line = traceback.FrameSummary(code.co_filename, frame.f_lineno, code.co_name)
    return "".join(traceback.StackSummary.from_list([line]).format())
