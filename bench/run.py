"""Ferry's benchmark: Ferry side by side with uvicorn, granian and nginx, in one run.

What it measures, each server running the same ASGI hello-world app (bench/apps.py;
nginx answers the same 13 bytes itself):

  hello     requests/s and p99 latency under `wrk -t1 -c64` on keep-alive connections
  pipeline  the same with 256 connections each pipelining 16 requests (bench/pipeline.lua)
  memory    RSS growth per idle keep-alive connection, over 5,000 connections that each
            made one request (Ferry and uvicorn: single-process servers)
  static-small, static-large
            a 13-byte file (64 connections; requests/s) and a 1 MiB file (16
            connections; bytes/s) from `ferry serve DIR` on uvloop and on asyncio, and
            from nginx with `root DIR; sendfile on;` (bench/static_site.py)
  client    HTTP clients' requests/s over keep-alive against nginx, each in its own
            process, in interleaved rounds, every response checked: Ferry's AsyncClient
            (32 in flight) vs aiohttp and httpx.AsyncClient; Ferry's Client in a loop vs
            urllib3 (PoolManager, and a bare HTTPConnectionPool), requests, httpx.Client
            and http.client; Ferry compiled and pure (bench/client_bench.py)
  wsgi      a WSGI hello world (bench/apps.py:wsgi_hello) under `wrk -t1 -c64`: Ferry
            (--threads 10), gunicorn's sync and gthread (10 threads) workers, granian WSGI
  websocket WebSocket echo round trips/s (bench/apps.py:ws_echo), 32 connections each
            sending 16 bytes and awaiting the echo (bench/ws_load.py): Ferry vs uvicorn
  https-hello, https-static-large, https-handshakes
            over TLS, one throwaway certificate for all (bench/certificate.py): hello
            with 64 keep-alive connections (Ferry vs uvicorn), the 1 MiB file with 16
            (Ferry on each loop vs nginx), and a new connection per request, so every
            request is a full handshake (Ferry vs uvicorn and nginx)
  metrics   the hello scenario's load on Ferry with --metrics-port (ferry-metrics) and
            without (ferry): what counting every request costs

How: each server is started fresh for each scenario, pinned to core 0 (`taskset -c 0`),
listening on 127.0.0.1; wrk and this harness are pinned to core 1. The harness waits
until the port accepts and `GET /` answers the hello body, runs wrk for a warm-up
(results discarded) and then for the measured duration, and stops the server with
SIGTERM. Every step has a deadline, so the run ends by itself. A server that fails is
reported as failed and the run goes on.

It prints one table per scenario (with Ferry's throughput ratio to each peer) and the
targets with pass/fail, writes bench/results/<UTC timestamp>.json and latest.json, and
draws bench/results/latest.png with .venv-bench's matplotlib. See bench/README.md.

Usage: python3 bench/run.py [--duration S] [--only ferry,nginx]
                            [--scenarios hello,pipeline,memory,static-small,static-large,
                                         wsgi,websocket,https-hello,https-static-large,
                                         https-handshakes,metrics,workers,restart,
                                         sighup,reuseport,client]
                            [--skip-install]
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import certificate
import client_bench
import environment
import idle_memory
import loadgen
import probe
import report
import restarts
import servers
import static_site
import ws_bench
from report import Outcome

STATIC_SCENARIOS = ("static-small", "static-large")
HTTPS_SCENARIOS = ("https-hello", "https-static-large", "https-handshakes")
SCENARIOS = (
    *("hello", "pipeline", "memory", *STATIC_SCENARIOS, "wsgi", "websocket", "workers"),
    "metrics",
    *HTTPS_SCENARIOS,
    *("restart", "sighup", "reuseport", "client"),
)
# Those that count failed requests (bench/restarts.py), and "client", which measures
# clients against nginx, are run apart from the throughput scenarios.
RESTART_SCENARIOS = ("restart", "sighup", "reuseport")
SERVER_SCENARIOS = tuple(s for s in SCENARIOS if s not in {*RESTART_SCENARIOS, "client"})
CHART_SCRIPT = Path(__file__).with_name("chart.py")
CHART_TIMEOUT_S = 120


def comma_list(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated subset of `choices`, kept in their order."""

    def parse(text: str) -> list[str]:
        names = {name.strip() for name in text.split(",") if name.strip()}
        if unknown := names - set(choices):
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(sorted(unknown))} (choose from {', '.join(choices)})"
            )
        return [choice for choice in choices if choice in names]

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark Ferry against uvicorn, granian and nginx (see bench/README.md)."
    )
    server_names = servers.SERVER_NAMES
    parser.add_argument("--duration", type=int, default=3, help="seconds per measured run")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="measured runs of each server in each load scenario, and of each client, "
        "interleaved; the median counts (default: 5)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up (0: none)")
    parser.add_argument(
        "--only",
        type=comma_list(server_names),
        default=list(server_names),
        help=f"servers to run, comma-separated (default: {','.join(server_names)})",
    )
    parser.add_argument(
        "--scenarios",
        type=comma_list(SCENARIOS),
        default=list(SCENARIOS),
        help=f"scenarios to run, comma-separated (default: {','.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--idle-connections",
        type=int,
        default=5000,
        help="idle connections opened by the memory scenario (default: 5000)",
    )
    parser.add_argument(
        "--skip-install",
        action="store_true",
        help="do not install wrk/nginx (apt-get) or the peers (.venv-bench)",
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.rounds < 1 or args.warmup < 0 or args.idle_connections < 1:
        parser.error("--duration, --rounds and --idle-connections must be ≥ 1, --warmup ≥ 0")
    return args


def prepare(args: argparse.Namespace) -> None:
    """Install what is missing (unless --skip-install), pin, raise the file limit.

    Raises `environment.SetupError` or `OSError` if the benchmark cannot run.
    """
    environment.ensure_system_tools(install=not args.skip_install)
    if not args.skip_install:
        environment.ensure_bench_venv()
    environment.pin_harness_to_load_core()
    if "memory" in args.scenarios:
        # Before any server starts: they inherit the limit.
        idle_memory.raise_open_file_limit(args.idle_connections)


def servers_for(
    scenario: str, names: list[str], site: Path, tls: certificate.Certificate | None
) -> list[servers.ServerSpec]:
    """The servers selected by `--only` that take part in `scenario` (`tls`: the run's
    certificate, made when an https scenario runs)."""
    if scenario in HTTPS_SCENARIOS:
        assert tls is not None
        specs = servers.https_servers(scenario, site, tls).values()
        return [spec for spec in specs if spec.selected_by in names]
    if scenario in STATIC_SCENARIOS:
        return [spec for spec in servers.static_servers(site).values() if spec.selected_by in names]
    if scenario == "wsgi":
        return [spec for spec in servers.WSGI_SERVERS.values() if spec.selected_by in names]
    if scenario == "websocket":
        return [spec for spec in servers.WEBSOCKET_SERVERS.values() if spec.selected_by in names]
    if scenario == "workers":
        return [spec for spec in servers.WORKER_SERVERS.values() if spec.selected_by in names]
    if scenario == "metrics":
        return [spec for spec in servers.METRICS_SERVERS.values() if spec.selected_by in names]
    specs = [servers.SERVERS[name] for name in names if name in servers.SERVERS]
    return [spec for spec in specs if spec.measure_memory] if scenario == "memory" else specs


def run_load(
    profile: loadgen.LoadProfile, spec: servers.ServerSpec, scratch: Path, args: argparse.Namespace
) -> Outcome:
    """Start the server, warm it up with wrk, measure with wrk, stop it."""
    command = None
    try:
        with servers.running(spec, scratch) as server:
            command = shlex.join(server.command)
            print(f"    $ {command}", flush=True)
            if server.handshake is not None:
                print(f"    TLS: {server.handshake}", flush=True)
            if args.warmup:
                loadgen.run_wrk(profile, server.port, args.warmup)
            load = loadgen.run_wrk(profile, server.port, args.duration)
            print(f"    $ {load.wrk_command}", flush=True)
            rss = process_tree_rss(server.pid) if profile.scenario == "workers" else ()
        return Outcome(profile.scenario, spec.name, command, load=load, rss=rss)
    except (servers.ServerError, loadgen.LoadError) as exc:
        return Outcome(profile.scenario, spec.name, command, error=str(exc))


def process_tree_rss(pid: int) -> tuple[int, ...]:
    """The resident memory (bytes) of `pid`, then of each of its descendants, from /proc;
    () if it cannot be read."""
    try:
        sizes = []
        for member in _descendants_and_self(pid):
            status = Path(f"/proc/{member}/status").read_text()
            kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
            sizes.append(int(kib) * 1024)
        return tuple(sizes)
    except (OSError, StopIteration):
        return ()


def _descendants_and_self(pid: int) -> list[int]:
    found, index = [pid], 0
    while index < len(found):
        children = Path(f"/proc/{found[index]}/task/{found[index]}/children").read_text()
        found += [int(child) for child in children.split()]
        index += 1
    return found


def run_websocket(spec: servers.ServerSpec, scratch: Path, args: argparse.Namespace) -> Outcome:
    """Start the server, run the echo load (its own warm-up, then measured), stop it."""
    command = None
    try:
        with servers.running(spec, scratch) as server:
            command = shlex.join(server.command)
            print(f"    $ {command}", flush=True)
            load = ws_bench.run(server.port, args.warmup, args.duration)
            print(f"    $ {load.wrk_command}", flush=True)
        return Outcome("websocket", spec.name, command, load=load)
    except (servers.ServerError, loadgen.LoadError) as exc:
        return Outcome("websocket", spec.name, command, error=str(exc))


def run_memory(spec: servers.ServerSpec, scratch: Path, args: argparse.Namespace) -> Outcome:
    """Start the server, measure its RSS per idle connection, close them, stop it."""
    command = None
    try:
        with servers.running(spec, scratch) as server:
            command = shlex.join(server.command)
            print(f"    $ {command}", flush=True)
            memory = idle_memory.measure(server.pid, server.port, args.idle_connections)
        return Outcome("memory", spec.name, command, memory=memory)
    except (servers.ServerError, idle_memory.MeasurementError) as exc:
        return Outcome("memory", spec.name, command, error=str(exc))
    except (probe.ProbeError, OSError) as exc:  # from the connections the harness opens
        return Outcome("memory", spec.name, command, error=f"{type(exc).__name__}: {exc}")


def summarize(outcome: Outcome) -> str:
    if outcome.load is not None:
        load = outcome.load
        p99 = "—" if load.p99_ms is None else f"{load.p99_ms:.2f} ms"
        return f"{load.requests_per_s:,.0f} req/s, {report.mib(load.bytes_per_s)}, p99 {p99}"
    if outcome.memory is not None:
        return f"{outcome.memory.bytes_per_connection:,.0f} B per idle connection"
    return f"FAILED: {outcome.error}"


def run_all(args: argparse.Namespace) -> list[Outcome]:
    """Run every selected scenario on every selected server.

    Load scenarios run in `--rounds` rounds, each server once per round, every round
    starting with the next server (ferry, nginx; then nginx, ferry; ...) so that none
    always runs first; each server's median round counts (`report.median_outcome`). On
    this shared machine one run of one server can be a fifth off; adjacent interleaved
    runs and a median are what make a ratio mean something.
    """
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-") as scratch_root:
        site = Path(scratch_root) / "static-site"
        if set(args.scenarios) & {*STATIC_SCENARIOS, "https-static-large"}:
            # Searchable by nginx's unprivileged worker, which serves the site from it.
            os.chmod(scratch_root, 0o711)
            static_site.write(site)
        tls = None
        if set(args.scenarios) & set(HTTPS_SCENARIOS):
            tls = certificate.make(Path(scratch_root))
        for scenario in (s for s in args.scenarios if s in SERVER_SCENARIOS):
            print(f"\n== {scenario}", flush=True)
            specs = servers_for(scenario, args.only, site, tls)
            if scenario == "memory":
                for spec in specs:
                    print(f"  {spec.name}", flush=True)
                    outcome = run_memory(spec, Path(scratch_root) / f"{scenario}-{spec.name}", args)
                    print(f"    -> {summarize(outcome)}", flush=True)
                    outcomes.append(outcome)
                continue
            samples: dict[str, list[Outcome]] = {spec.name: [] for spec in specs}
            for round_number in range(args.rounds):
                first = round_number % len(specs) if specs else 0
                for spec in specs[first:] + specs[:first]:
                    label = (
                        f" (round {round_number + 1} of {args.rounds})" if args.rounds > 1 else ""
                    )
                    print(f"  {spec.name}{label}", flush=True)
                    scratch = Path(scratch_root) / f"{scenario}-{spec.name}-{round_number + 1}"
                    if scenario == "websocket":
                        outcome = run_websocket(spec, scratch, args)
                    else:
                        outcome = run_load(loadgen.PROFILES[scenario], spec, scratch, args)
                    print(f"    -> {summarize(outcome)}", flush=True)
                    samples[spec.name].append(outcome)
            outcomes += [report.median_outcome(samples[spec.name]) for spec in specs]
    return outcomes


def run_clients(args: argparse.Namespace) -> list[client_bench.ClientResult]:
    """The client scenario: every client against one nginx (bench/client_bench.py)."""
    print("\n== client", flush=True)
    with tempfile.TemporaryDirectory(prefix="ferry-bench-client-") as scratch:
        return client_bench.run(Path(scratch) / "nginx", args.warmup, args.duration, args.rounds)


def print_tables(outcomes: list[Outcome], args: argparse.Namespace) -> None:
    print()
    for scenario in (s for s in args.scenarios if s in SERVER_SCENARIOS):
        if scenario == "memory":
            heading = f"memory — {args.idle_connections:,} idle keep-alive connections"
            print(report.format_memory_table(outcomes, heading), end="\n\n")
        elif scenario == "websocket":
            heading = f"websocket — {ws_bench.DESCRIPTION}, {args.duration} s"
            print(report.format_load_table(outcomes, scenario, heading), end="\n\n")
        else:
            profile = loadgen.PROFILES[scenario]
            heading = f"{scenario} — {profile.description}, {args.duration} s"
            print(report.format_load_table(outcomes, scenario, heading), end="\n\n")


def document_header(args: argparse.Namespace, command: str, stamp: str) -> dict[str, Any]:
    return {
        "timestamp": stamp,
        "command": command,
        "settings": {
            "duration_s": args.duration,
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "servers": args.only,
            "scenarios": args.scenarios,
            "idle_connections": args.idle_connections,
            "server_core": servers.SERVER_CORE,
            "load_core": loadgen.LOAD_CORE,
        },
        "machine": environment.describe_machine(),
        "versions": environment.describe_versions(),
    }


def draw_chart(results_file: Path) -> str:
    """Draw results_file as latest.png with .venv-bench's matplotlib; say what happened."""
    png = results_file.with_name("latest.png")
    command = [str(environment.BENCH_PYTHON), str(CHART_SCRIPT), str(results_file), str(png)]
    try:
        subprocess.run(command, check=True, timeout=CHART_TIMEOUT_S, capture_output=True)
    except (OSError, subprocess.SubprocessError) as exc:
        stderr = getattr(exc, "stderr", b"") or b""
        return f"chart not drawn ({exc}) {stderr.decode(errors='replace').strip()}"
    return f"chart:   {png}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(sys.orig_argv)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    print(f"command: {command}", flush=True)
    try:
        prepare(args)
    except (environment.SetupError, OSError, subprocess.SubprocessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        outcomes = run_all(args)
    except certificate.CertificateError as exc:  # the https scenarios need openssl
        print(f"error: {exc}", file=sys.stderr)
        return 2
    restarted, shared = restarts.run(args.scenarios, args.only, args.duration)
    clients = run_clients(args) if "client" in args.scenarios else []
    checks = report.evaluate(outcomes, args.scenarios)
    print_tables(outcomes, args)
    if restarted or shared:
        print(restarts.format_report(restarted, shared), end="\n\n")
    if clients:
        print(client_bench.format_report(clients, args.duration, args.rounds), end="\n\n")
    if checks:
        print(report.format_targets(checks), end="\n\n")
    if restart_checks := restarts.checks(restarted):
        print(report.format_rows_table("restart targets", restart_checks), end="\n\n")
    header = document_header(args, command, stamp)
    document = report.build_document(header, outcomes, checks)
    if restarted or shared:
        document["restarts"] = [asdict(result) for result in restarted]
        document["reuseport"] = [asdict(result) for result in shared]
    if clients:
        document["clients"] = [asdict(result) for result in clients]
        document["client_targets"] = [asdict(found) for found in client_bench.checks(clients)]
    paths = report.write_results(document, stamp)
    print(f"results: {', '.join(str(path) for path in paths)}")
    if outcomes:  # the chart draws the server scenarios
        print(draw_chart(paths[-1]))
    print(f"command: {command}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
