"""The client scenario of `make bench`: HTTP clients' requests/s over keep-alive against
the same local nginx (bench/servers.py's hello config, pinned to core 0), in one run.

Each client runs in its own process on core 1 (bench/client_load.py): Ferry's clients
with .venv's Python, the peers with .venv-bench's. Async clients keep 32 requests in
flight; blocking ones send requests one after the other on one connection.
"""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import environment
import servers

LOAD_SCRIPT = Path(__file__).with_name("client_load.py")
ASYNC_CLIENTS = ("ferry-async", "aiohttp", "httpx-async")
BLOCKING_CLIENTS = ("ferry-blocking", "urllib3", "requests", "httpx", "http.client")
FERRY_CLIENTS = ("ferry-async", "ferry-blocking", "http.client")
TARGETS = (  # (client, peer, ratio): client's requests/s ≥ ratio x peer's
    ("ferry-async", "aiohttp", 1.5),
    ("ferry-blocking", "urllib3", 2.0),
    ("ferry-blocking", "http.client", 1.0),
)
RUN_MARGIN_S = 60  # on top of warm-up and duration, before a client run is killed


@dataclass(frozen=True)
class ClientResult:
    client: str
    requests_per_s: float | None
    error: str | None = None


def measure(client: str, port: int, warmup: float, duration: float) -> ClientResult:
    python = servers.FERRY_PYTHON if client in FERRY_CLIENTS else environment.BENCH_PYTHON
    command = [str(python), str(LOAD_SCRIPT), client, str(port), str(warmup), str(duration)]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=True,
            timeout=warmup + duration + RUN_MARGIN_S,
        )
        result = json.loads(done.stdout)
    except subprocess.CalledProcessError as exc:
        return ClientResult(client, None, (exc.stderr or "").strip()[-500:] or str(exc))
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return ClientResult(client, None, str(exc))
    return ClientResult(client, result["requests"] / result["seconds"])


def run(scratch: Path, warmup: float, duration: float) -> list[ClientResult]:
    """Start nginx, measure every client against it in turn, stop nginx."""
    results = []
    with servers.running(servers.SERVERS["nginx"], scratch) as server:
        for client in (*ASYNC_CLIENTS, *BLOCKING_CLIENTS):
            print(f"  {client}", flush=True)
            result = measure(client, server.port, warmup, duration)
            shown = result.error or f"{result.requests_per_s:,.0f} req/s"
            print(f"    -> {shown}", flush=True)
            results.append(result)
    return results


def format_report(results: list[ClientResult], duration: float) -> str:
    rate = {r.client: r.requests_per_s for r in results if r.requests_per_s is not None}
    lines = [f"client — requests/s over keep-alive against nginx, {duration:g} s"]
    for title, group in (("async, 32 in flight", ASYNC_CLIENTS), ("blocking", BLOCKING_CLIENTS)):
        lines.append(f"  {title}")
        for client in group:
            value = rate.get(client)
            lines.append(f"    {client:<16} {'FAILED' if value is None else f'{value:>10,.0f}'}")
    lines.append("  targets")
    for client, peer, ratio in TARGETS:
        ours, theirs = rate.get(client), rate.get(peer)
        if ours is None or theirs is None:
            lines.append(f"    {client} ≥ {ratio}x {peer}: not measured")
            continue
        verdict = "pass" if ours >= ratio * theirs else "FAIL"
        lines.append(f"    {client} ≥ {ratio}x {peer}: {ours / theirs:.2f}x {verdict}")
    return "\n".join(lines)
