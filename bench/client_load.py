"""One HTTP client's requests/s over keep-alive against a local server, for
bench/client_bench.py. Runs in whichever environment has the client: Ferry's clients in
.venv (compiled, or pure with FERRY_PURE=1 in the environment), the peers in .venv-bench;
the standard library's http.client in either.

Usage: python client_load.py CLIENT URL WARMUP_S DURATION_S
       python client_load.py CLIENT URL --requests N   (exactly N, no warm-up: for
                                                        bench/client_instructions.py)
prints one JSON object on stdout: {"client", "requests", "seconds", "cpu_seconds",
"errors", "wrong", "problem", "accelerated"}.

Each client is called as its users call it, with the full URL where its API takes one:
urllib3 through a `PoolManager` (as requests and most code do; `urllib3-pool` is the
bare `HTTPConnectionPool`, which skips the URL parsing and the pool lookup), http.client
with one kept-alive `HTTPConnection`. Async clients run CONCURRENCY requests at a time,
each task looping over requests on a shared client whose pool holds CONCURRENCY
connections (aiohttp: `TCPConnector(limit=CONCURRENCY)`); blocking clients send one
request after the other on one kept-alive connection.

Every response is checked, not only the first: a status other than 200 or a body other
than BODY counts as `wrong`, an exception as an `error` (the loop goes on); `problem`
describes the first of either. `requests` counts only the right responses of the
measured stretch; `cpu_seconds` is this process's CPU time (user and system) over it,
which, unlike the wall-clock `seconds`, does not grow while another process holds the
core: on a shared machine CPU time per request is the steadier measure of a client's own
cost. `accelerated` says whether Ferry's compiled accelerator was in use in
this process (None for the peers), so that a "compiled" run that fell back to Python
cannot pass for one.
"""

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

CONCURRENCY = 32
BODY = b"Hello, world!"
CHECK_EVERY = 100  # blocking loop: requests between clock reads (a read costs as much as
# a fast request's part of the loop)
ASYNC_CLIENTS = ("ferry-async", "aiohttp", "httpx-async")

Reply = tuple[int, bytes]  # (status, body): what every fetch returns, to be checked
Fetch = Callable[[], Reply]
AsyncFetch = Callable[[], Awaitable[Reply]]


@dataclass
class Tally:
    """What a load loop saw: right responses, wrong ones, exceptions, the first problem."""

    requests: int = 0
    wrong: int = 0
    errors: int = 0
    problem: str | None = None
    cpu_seconds: float = 0.0  # this process's CPU time (user + system) over the stretch

    def count(self, reply: Reply) -> None:
        if reply[0] == 200 and reply[1] == BODY:
            self.requests += 1
            return
        self.wrong += 1
        if self.problem is None:
            self.problem = f"status {reply[0]}, body {reply[1][:40]!r}"

    def fail(self, exc: BaseException) -> None:
        self.errors += 1
        if self.problem is None:
            self.problem = f"{type(exc).__name__}: {exc}"[:300]


def blocking_fetcher(name: str, url: str) -> tuple[Fetch, Callable[[], None]]:
    """(a function that GETs url and returns (status, body), a function that closes)."""
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    if name == "ferry-blocking":
        import ferry.client

        client = ferry.client.Client()

        def fetch_ferry() -> Reply:
            response = client.get(url)
            return response.status_code, response.content or b""

        return fetch_ferry, client.close
    if name == "urllib3":
        import urllib3

        manager = urllib3.PoolManager()

        def fetch_manager() -> Reply:
            response = manager.request("GET", url)
            return response.status, response.data

        return fetch_manager, manager.clear
    if name == "urllib3-pool":
        import urllib3

        pool = urllib3.HTTPConnectionPool(host, port)

        def fetch_pool() -> Reply:
            response = pool.request("GET", path)
            return response.status, response.data

        return fetch_pool, pool.close
    if name == "requests":
        import requests

        session = requests.Session()

        def fetch_requests() -> Reply:
            response = session.get(url)
            return response.status_code, response.content

        return fetch_requests, session.close
    if name == "httpx":
        import httpx

        httpx_client = httpx.Client()

        def fetch_httpx() -> Reply:
            response = httpx_client.get(url)
            return response.status_code, response.content

        return fetch_httpx, httpx_client.close
    if name == "http.client":
        import http.client

        connection = http.client.HTTPConnection(host, port)

        def fetch_stdlib() -> Reply:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()

        return fetch_stdlib, connection.close
    raise SystemExit(f"unknown client {name}")


async def async_fetcher(name: str, url: str) -> tuple[AsyncFetch, Callable[[], Awaitable[Any]]]:
    """(a coroutine function that GETs url and returns (status, body), one that closes)."""
    if name == "ferry-async":
        import ferry.client

        limits = ferry.client.PoolLimits(max_per_host=CONCURRENCY)
        client = ferry.client.AsyncClient(limits=limits)

        async def fetch_ferry() -> Reply:
            response = await client.get(url)
            return response.status_code, response.content or b""

        return fetch_ferry, client.aclose
    if name == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY))

        async def fetch_aiohttp() -> Reply:
            async with session.get(url) as response:
                return response.status, await response.read()

        return fetch_aiohttp, session.close
    if name == "httpx-async":
        import httpx

        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        httpx_client = httpx.AsyncClient(limits=limits)

        async def fetch_httpx() -> Reply:
            response = await httpx_client.get(url)
            return response.status_code, response.content

        return fetch_httpx, httpx_client.aclose
    raise SystemExit(f"unknown client {name}")


def run_blocking(name: str, url: str, warmup: float, duration: float) -> tuple[Tally, float]:
    """Warm up for `warmup` s, then count for at least `duration` s; (tally, seconds)."""
    fetch, close = blocking_fetcher(name, url)
    try:
        _blocking_loop(fetch, warmup, Tally())
        tally = Tally()
        start, cpu = time.perf_counter(), time.process_time()
        end = _blocking_loop(fetch, duration, tally)
        tally.cpu_seconds = time.process_time() - cpu
        return tally, end - start
    finally:
        close()


def _blocking_loop(fetch: Fetch, duration: float, tally: Tally) -> float:
    """Fetch in batches of CHECK_EVERY until `duration` s passed; return the end time."""
    deadline = time.perf_counter() + duration
    while (now := time.perf_counter()) < deadline:
        for _ in range(CHECK_EVERY):
            try:
                reply = fetch()
            except Exception as exc:  # counted and shown: the run is void, not stopped
                tally.fail(exc)
                continue
            tally.count(reply)
    return now


async def run_async(name: str, url: str, warmup: float, duration: float) -> tuple[Tally, float]:
    """Warm up for `warmup` s, then count for `duration` s; (tally, seconds)."""
    fetch, close = await async_fetcher(name, url)
    try:
        await _async_load(fetch, warmup, Tally())
        tally = Tally()
        start, cpu = time.perf_counter(), time.process_time()
        await _async_load(fetch, duration, tally)
        tally.cpu_seconds = time.process_time() - cpu
        return tally, time.perf_counter() - start
    finally:
        await close()


async def _async_load(fetch: AsyncFetch, duration: float, tally: Tally) -> None:
    """CONCURRENCY tasks fetching in a loop until `duration` s passed."""
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        while time.perf_counter() < deadline:
            try:
                reply = await fetch()
            except Exception as exc:  # counted and shown: the run is void, not stopped
                tally.fail(exc)
                continue
            tally.count(reply)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def run_count(name: str, url: str, total: int) -> tuple[Tally, float]:
    """Send exactly `total` requests (async: shared by CONCURRENCY tasks); (tally, seconds)."""
    tally, start, cpu = Tally(), time.perf_counter(), time.process_time()
    if name in ASYNC_CLIENTS:
        asyncio.run(_async_count(name, url, total, tally))
    else:
        fetch, close = blocking_fetcher(name, url)
        try:
            for _ in range(total):
                _checked(fetch, tally)
        finally:
            close()
    tally.cpu_seconds = time.process_time() - cpu
    return tally, time.perf_counter() - start


def _checked(fetch: Fetch, tally: Tally) -> None:
    try:
        reply = fetch()
    except Exception as exc:  # counted and shown, as in the timed loops
        tally.fail(exc)
        return
    tally.count(reply)


async def _async_count(name: str, url: str, total: int, tally: Tally) -> None:
    fetch, close = await async_fetcher(name, url)
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            try:
                reply = await fetch()
            except Exception as exc:  # counted and shown, as in the timed loops
                tally.fail(exc)
                continue
            tally.count(reply)

    try:
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    finally:
        await close()


def accelerated(name: str) -> bool | None:
    """Whether Ferry's compiled accelerator is in use (None for the other clients)."""
    if not name.startswith("ferry"):
        return None
    import ferry._accel

    return ferry._accel.active()


def main(argv: list[str]) -> int:
    name, url = argv[0], argv[1]
    if argv[2] == "--requests":
        tally, seconds = run_count(name, url, int(argv[3]))
    elif name in ASYNC_CLIENTS:
        warmup, duration = float(argv[2]), float(argv[3])
        tally, seconds = asyncio.run(run_async(name, url, warmup, duration))
    else:
        tally, seconds = run_blocking(name, url, float(argv[2]), float(argv[3]))
    report = {
        "client": name,
        "requests": tally.requests,
        "seconds": seconds,
        "cpu_seconds": tally.cpu_seconds,
        "errors": tally.errors,
        "wrong": tally.wrong,
        "problem": tally.problem,
        "accelerated": accelerated(name),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
