"""Instructions per request of each HTTP client, counted by callgrind: the client
scenario's repeatable measure (bench/instructions.py is the server's).

Requests/s of a client on a shared machine drift by tens of percent between minutes;
the instructions its process executes for a request do not. For each client this starts
one nginx (bench/servers.py's hello config, pinned to core 0), then runs
bench/client_load.py under ``valgrind --tool=callgrind`` twice, pinned to core 1: once
for ``--base`` requests and once for ``--base + --requests``; the difference of the two
totals over ``--requests`` is what one more request costs the client (start-up, imports,
connecting and the first requests' warm-up cancel out). Every response is checked as in
the client scenario; a run with a wrong response or an error is reported, not counted.
The clients are the client scenario's (bench/client_bench.py), called the same way.

callgrind counts user-space instructions only: a client's system calls (the kernel's
side of send, recv and epoll) are not in the count, and an instruction of the
interpreter is not an instruction of compiled code in time; compare with the scenario's
CPU/request column, not instead of it.

Usage: ``python3 bench/client_instructions.py [--clients a,b] [--requests N] [--base N]``
(``make install`` first, for the compiled accelerator). Under valgrind a client runs
some 50 times slower: every client in turn takes several minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import client_bench
import loadgen
import servers

RUN_TIMEOUT_S = 1200


def count(spec: client_bench.ClientSpec, url: str, requests: int, out: Path) -> int:
    """Run `requests` requests of `spec` under callgrind; return its instruction total.

    Raises RuntimeError if the client saw a wrong response or an error, or ran the
    other Ferry build than `spec` says."""
    command = [
        *("taskset", "-c", loadgen.LOAD_CORE, "valgrind", "--tool=callgrind"),
        f"--callgrind-out-file={out}",
        *(str(spec.python), str(client_bench.LOAD_SCRIPT), spec.load_name, url),
        *("--requests", str(requests)),
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        timeout=RUN_TIMEOUT_S,
        env=spec.environment(os.environ),
    )
    judged = client_bench.judge(spec, json.loads(done.stdout))
    if judged.problem:
        raise RuntimeError(judged.problem)
    return total_instructions(out)


def total_instructions(dump: Path) -> int:
    """The Ir total of a callgrind dump (its ``summary:`` or ``totals:`` line)."""
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def per_request(
    spec: client_bench.ClientSpec, url: str, base: int, requests: int, scratch: Path
) -> float:
    """What one request costs `spec`: the difference of two runs over their difference."""
    small = count(spec, url, base, scratch / f"{spec.name}.small.out")
    large = count(spec, url, base + requests, scratch / f"{spec.name}.large.out")
    return (large - small) / requests


def main(argv: list[str] | None = None) -> int:
    names = [spec.name for spec in client_bench.CLIENTS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default=",".join(names), help="comma-separated")
    parser.add_argument("--requests", type=int, default=1000, help="requests measured")
    parser.add_argument("--base", type=int, default=200, help="requests of the first run")
    args = parser.parse_args(argv)
    chosen = [spec for spec in client_bench.CLIENTS if spec.name in args.clients.split(",")]
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ferry-client-instructions-") as tmp:
        scratch = Path(tmp)
        with servers.running(servers.SERVERS["nginx"], scratch / "nginx") as server:
            url = f"http://{servers.HOST}:{server.port}{client_bench.PATH}"
            for spec in chosen:
                print(f"{spec.name:18} {measured(spec, url, args, scratch)}", flush=True)
    return 0


def measured(
    spec: client_bench.ClientSpec, url: str, args: argparse.Namespace, scratch: Path
) -> str:
    """ "N instructions per request", or why there is no count."""
    try:
        cost = per_request(spec, url, args.base, args.requests, scratch)
    except subprocess.CalledProcessError as exc:
        return f"FAILED: {(exc.stderr or str(exc)).strip()[-300:]}"
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
        return f"FAILED: {str(exc).strip()[-300:]}"
    return f"{cost:10,.0f} instructions per request"


if __name__ == "__main__":
    raise SystemExit(main())
