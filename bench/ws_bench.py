"""The websocket scenario's load: bench/ws_load.py run with .venv-bench's Python on the
load core, its report turned into a `LoadResult` so the tables, targets, JSON and chart
treat it like a wrk run (requests/s are echo round trips/s; bytes/s the echoed payload).
"""

import json
import shlex
import subprocess
from pathlib import Path

import environment
import loadgen

LOAD_SCRIPT = Path(__file__).with_name("ws_load.py")
CONNECTIONS = 32
MESSAGE_BYTES = 16
DESCRIPTION = f"echo of a {MESSAGE_BYTES}-byte text message, {CONNECTIONS} connections"
RUN_MARGIN_S = 60  # on top of warm-up and duration, before the load is killed


def load_command(port: int, warmup_s: int, duration_s: int) -> list[str]:
    return [
        *("taskset", "-c", loadgen.LOAD_CORE, str(environment.BENCH_PYTHON)),
        *(str(LOAD_SCRIPT), str(port), str(CONNECTIONS), str(warmup_s), str(duration_s)),
    ]


def run(port: int, warmup_s: int, duration_s: int) -> loadgen.LoadResult:
    """Run the echo load; raise `loadgen.LoadError` if it fails or prints no report."""
    command = load_command(port, warmup_s, duration_s)
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=warmup_s + duration_s + RUN_MARGIN_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise loadgen.LoadError(f"the WebSocket load did not finish: {exc}") from exc
    if done.returncode != 0:
        raise loadgen.LoadError(f"ws_load.py exited with {done.returncode}: {done.stderr[-500:]}")
    try:
        report = json.loads(done.stdout)
    except ValueError as exc:
        raise loadgen.LoadError(f"unexpected ws_load.py output: {done.stdout!r}") from exc
    rate = report["round_trips"] / report["seconds"]
    print(f"    load generator CPU: {report['cpu_share']:.0%} of the core", flush=True)
    return loadgen.LoadResult(
        requests_per_s=rate,
        bytes_per_s=rate * MESSAGE_BYTES,
        p99_ms=report["p99_ms"],
        requests=report["round_trips"],
        socket_errors=report["errors"],
        bad_responses=report["mismatches"],
        wrk_command=shlex.join(command),
        load_cpu_share=report["cpu_share"],
    )
