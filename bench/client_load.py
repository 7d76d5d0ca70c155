"""One HTTP client's requests/s over keep-alive against a local server (GET /, the
13-byte hello body), for bench/client_bench.py. Runs in whichever environment has the
client: Ferry's clients in .venv, the peers in .venv-bench; standard library otherwise.

Usage: python client_load.py CLIENT PORT WARMUP_S DURATION_S
prints {"client": ..., "requests": N, "seconds": S} on stdout.

Async clients run CONCURRENCY requests at a time, each task looping over requests on a
shared client whose pool holds CONCURRENCY connections; blocking clients send one
request after the other on one kept-alive connection. Every response body is read whole
and the first is checked.
"""

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

CONCURRENCY = 32
BODY = b"Hello, world!"

Fetch = Callable[[], bytes]
AsyncFetch = Callable[[], Awaitable[bytes]]


def blocking_fetcher(name: str, url: str) -> tuple[Fetch, Callable[[], None]]:
    """(a function that GETs url and returns the body, a function that closes)."""
    if name == "ferry-blocking":
        import ferry.client

        client = ferry.client.Client()
        return (lambda: client.get(url).content or b""), client.close
    if name == "urllib3":
        import urllib3

        pool = urllib3.HTTPConnectionPool("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/")))
        return (lambda: pool.request("GET", "/").data), pool.close
    if name == "requests":
        import requests

        session = requests.Session()
        return (lambda: session.get(url).content), session.close
    if name == "httpx":
        import httpx

        httpx_client = httpx.Client()
        return (lambda: httpx_client.get(url).content), httpx_client.close
    if name == "http.client":
        import http.client

        port = int(url.rsplit(":", 1)[1].strip("/"))
        connection = http.client.HTTPConnection("127.0.0.1", port)

        def fetch() -> bytes:
            connection.request("GET", "/")
            return connection.getresponse().read()

        return fetch, connection.close
    raise SystemExit(f"unknown client {name}")


async def async_fetcher(name: str, url: str) -> tuple[AsyncFetch, Callable[[], Awaitable[Any]]]:
    if name == "ferry-async":
        import ferry.client

        limits = ferry.client.PoolLimits(max_per_host=CONCURRENCY)
        client = ferry.client.AsyncClient(limits=limits)

        async def fetch() -> bytes:
            return (await client.get(url)).content or b""

        return fetch, client.aclose
    if name == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY))

        async def fetch_aiohttp() -> bytes:
            async with session.get(url) as response:
                return await response.read()

        return fetch_aiohttp, session.close
    if name == "httpx-async":
        import httpx

        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        httpx_client = httpx.AsyncClient(limits=limits)

        async def fetch_httpx() -> bytes:
            return (await httpx_client.get(url)).content

        return fetch_httpx, httpx_client.aclose
    raise SystemExit(f"unknown client {name}")


def run_blocking(name: str, url: str, warmup: float, duration: float) -> tuple[int, float]:
    fetch, close = blocking_fetcher(name, url)
    try:
        if fetch() != BODY:
            raise SystemExit(f"{name}: unexpected body")
        deadline = time.perf_counter() + warmup
        while time.perf_counter() < deadline:
            fetch()
        count, start = 0, time.perf_counter()
        deadline = start + duration
        while (now := time.perf_counter()) < deadline:
            for _ in range(100):  # the clock read costs as much as a fast request part
                fetch()
            count += 100
        return count, now - start
    finally:
        close()


async def run_async(name: str, url: str, warmup: float, duration: float) -> tuple[int, float]:
    fetch, close = await async_fetcher(name, url)
    try:
        if await fetch() != BODY:
            raise SystemExit(f"{name}: unexpected body")
        await _load(fetch, warmup)
        start = time.perf_counter()
        count = await _load(fetch, duration)
        return count, time.perf_counter() - start
    finally:
        await close()


async def _load(fetch: AsyncFetch, duration: float) -> int:
    deadline = time.perf_counter() + duration

    async def worker() -> int:
        count = 0
        while time.perf_counter() < deadline:
            await fetch()
            count += 1
        return count

    counts = await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return sum(counts)


def main(argv: list[str]) -> int:
    name, port, warmup, duration = argv[0], int(argv[1]), float(argv[2]), float(argv[3])
    url = f"http://127.0.0.1:{port}/"
    if name in ("ferry-async", "aiohttp", "httpx-async"):
        count, seconds = asyncio.run(run_async(name, url, warmup, duration))
    else:
        count, seconds = run_blocking(name, url, warmup, duration)
    print(json.dumps({"client": name, "requests": count, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
