"""The load of the websocket scenario: WebSocket echo round trips per second.

Run with `.venv-bench`'s Python (it has uvloop), pinned to the load core by the harness:

    python bench/ws_load.py PORT CONNECTIONS WARMUP_S DURATION_S

It opens CONNECTIONS WebSockets to ws://127.0.0.1:PORT/ (speaking RFC 6455 itself, with
no extension: 16-byte messages gain nothing from permessage-deflate), and on each sends
a 16-byte text message and awaits its echo, in a loop. After WARMUP_S seconds it counts
the round trips completed in the next DURATION_S seconds, and prints one JSON object:
`round_trips`, `seconds`, `p99_ms`, `errors` (connections lost), `mismatches` (echoes
that differ from what was sent) and `cpu_share` (this process's CPU time over the
measured wall time: near 1.0 means the load generator, not the server, was the limit).
"""

import asyncio
import json
import sys
import time

import uvloop

MESSAGE = "0123456789abcdef"  # 16 bytes
CONNECT_TIMEOUT_S = 10.0
FINISH_TIMEOUT_S = 10.0  # for the round trips in flight when the measurement ends

# The client speaks RFC 6455 itself, with a frame built once: a library client (the
# websockets package's) costs more per round trip than the servers under test, and then
# the load generator, not the server, sets the pace (see cpu_share).
HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
MASK = b"\x37\xfa\x21\x3d"  # fixed: the frame is built once (a benchmark, not a browser)


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A final client frame (RFC 6455 §5.2), masked as a client must (§5.3)."""
    body = bytes(byte ^ MASK[i % 4] for i, byte in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + MASK + body


TEXT_FRAME = masked_frame(0x1, MESSAGE.encode())
ECHO = bytes([0x81, len(MESSAGE)]) + MESSAGE.encode()  # the server's frame: unmasked


class Counter:
    def __init__(self) -> None:
        self.measuring = False
        self.stopped = False
        self.latencies: list[float] = []
        self.errors = 0
        self.mismatches = 0


class EchoClient(asyncio.Protocol):
    """One WebSocket: send the message, await its echo, again, until stopped."""

    def __init__(self, port: int, counter: Counter, connected: asyncio.Event) -> None:
        self.port = port
        self.counter = counter
        self.connected = connected
        self.done = asyncio.get_running_loop().create_future()
        self.buf = b""
        self.open = False
        self.started = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(HANDSHAKE % self.port)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.open:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            if not head.startswith(b"HTTP/1.1 101 "):
                self.fail()
                return
            self.open = True
            self.connected.set()
            self.send()
        while len(self.buf) >= 2:
            opcode, size = self.buf[0] & 0x0F, self.buf[1] & 0x7F
            if size > 125 or len(self.buf) < 2 + size:
                if size > 125:
                    self.fail()
                return
            frame, self.buf = self.buf[: 2 + size], self.buf[2 + size :]
            if opcode == 0x9:  # a keepalive ping: answer it (RFC 6455 §5.5.3)
                self.transport.write(masked_frame(0xA, frame[2:]))  # type: ignore[union-attr]
                continue
            counter = self.counter
            if counter.measuring and not counter.stopped:
                counter.latencies.append(time.perf_counter() - self.started)
                if frame != ECHO:
                    counter.mismatches += 1
            if counter.stopped:
                self.transport.close()  # type: ignore[union-attr]
                return
            self.send()

    def send(self) -> None:
        self.started = time.perf_counter()
        self.transport.write(TEXT_FRAME)  # type: ignore[union-attr]

    def fail(self) -> None:
        self.counter.errors += 1
        self.connected.set()
        self.transport.close()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.counter.stopped and self.open:
            self.counter.errors += 1
        self.connected.set()
        if not self.done.done():
            self.done.set_result(None)


async def echo_loop(port: int, counter: Counter, connected: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    try:
        _, client = await asyncio.wait_for(
            loop.create_connection(lambda: EchoClient(port, counter, connected), "127.0.0.1", port),
            CONNECT_TIMEOUT_S,
        )
        await client.done
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
