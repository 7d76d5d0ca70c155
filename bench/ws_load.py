"""The load of the websocket scenario: WebSocket echo round trips per second.

Run with `.venv-bench`'s Python (it has the `websockets` client and uvloop), pinned to
the load core by the harness:

    python bench/ws_load.py PORT CONNECTIONS WARMUP_S DURATION_S

It opens CONNECTIONS WebSockets to ws://127.0.0.1:PORT/ (no permessage-deflate: 16-byte
messages gain nothing from it), and on each sends a 16-byte text message and awaits its
echo, in a loop. After WARMUP_S seconds it counts the round trips completed in the next
DURATION_S seconds, and prints one JSON object: `round_trips`, `seconds`, `p99_ms`,
`errors` (connections lost), `mismatches` (echoes that differ from what was sent) and
`cpu_share` (this process's CPU time over the measured wall time: near 1.0 means the
load generator, not the server, was the limit).
"""

import asyncio
import json
import sys
import time

import uvloop
from websockets.asyncio.client import connect

MESSAGE = "0123456789abcdef"  # 16 bytes
CONNECT_TIMEOUT_S = 10.0
FINISH_TIMEOUT_S = 10.0  # for the round trips in flight when the measurement ends


class Counter:
    def __init__(self) -> None:
        self.measuring = False
        self.stopped = False
        self.latencies: list[float] = []
        self.errors = 0
        self.mismatches = 0


async def echo_loop(port: int, counter: Counter, connected: asyncio.Event) -> None:
    try:
        async with connect(
            f"ws://127.0.0.1:{port}/",
            compression=None,
            open_timeout=CONNECT_TIMEOUT_S,
            max_queue=None,
        ) as websocket:
            connected.set()
            while not counter.stopped:
                started = time.perf_counter()
                await websocket.send(MESSAGE)
                echo = await websocket.recv()
                if counter.measuring and not counter.stopped:
                    counter.latencies.append(time.perf_counter() - started)
                    if echo != MESSAGE:
                        counter.mismatches += 1
    except Exception:
        counter.errors += 1
        connected.set()


async def measure(port: int, connections: int, warmup: float, duration: float) -> dict[str, float]:
    counter = Counter()
    events = [asyncio.Event() for _ in range(connections)]
    tasks = [asyncio.create_task(echo_loop(port, counter, event)) for event in events]
    await asyncio.wait_for(
        asyncio.gather(*(event.wait() for event in events)), CONNECT_TIMEOUT_S + 5
    )
    await asyncio.sleep(warmup)
    counter.measuring = True
    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.sleep(duration)
    counter.stopped = True
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    await asyncio.wait(tasks, timeout=FINISH_TIMEOUT_S)
    latencies = sorted(counter.latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None
    return {
        "round_trips": len(latencies),
        "seconds": seconds,
        "p99_ms": None if p99 is None else p99 * 1000,
        "errors": counter.errors,
        "mismatches": counter.mismatches,
        "cpu_share": cpu / seconds,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    port, connections = int(argv[0]), int(argv[1])
    warmup, duration = float(argv[2]), float(argv[3])
    result = uvloop.run(measure(port, connections, warmup, duration))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
