"""The client scenario of `make bench`: HTTP clients' requests/s over keep-alive against
one local nginx (bench/servers.py's hello config, pinned to core 0), in one run.

Each client runs in its own process, bench/client_load.py started with `taskset -c 1`:
Ferry's clients with .venv's Python, once compiled (the mypyc accelerator `make install`
builds) and once pure (`FERRY_PURE=1`, what a wheel installs today); http.client with
the same Python (it needs no peer installed); the other peers with .venv-bench's. Async
clients keep 32 requests in flight; blocking ones send requests one after the other on
one connection. Every response is checked.

Clients run in `rounds` interleaved rounds, each client once per round and the order
turned by one place each round, as the server scenarios do; a client's median round is
the one reported. A round with errors or wrong responses makes the client void: its
ratios and targets are not computed, and the report says why.
"""

import json
import os
import shlex
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import environment
import loadgen
import servers

LOAD_SCRIPT = Path(__file__).with_name("client_load.py")
PATH = "/"  # nginx's `return 200 "Hello, world!"` (bench/servers.py:nginx_config)
COMPILED = "compiled"
PURE = "pure"


@dataclass(frozen=True)
class ClientSpec:
    """A client as measured: `name` (the report's), `load_name` (client_load.py's name
    for it), which Ferry build it is (`COMPILED`, `PURE`; None for the peers), and
    whether it is the standard library's (run, like Ferry's, with .venv's Python)."""

    name: str
    load_name: str
    ferry_build: str | None = None
    stdlib: bool = False

    @property
    def python(self) -> Path:
        ferry_venv = self.ferry_build is not None or self.stdlib
        return servers.FERRY_PYTHON if ferry_venv else environment.BENCH_PYTHON

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """The client process's environment: FERRY_PURE=1 for the pure build, and never
        inherited for the compiled one (it would silently run the pure code)."""
        env = {key: value for key, value in base.items() if key != "FERRY_PURE"}
        if self.ferry_build == PURE:
            env["FERRY_PURE"] = "1"
        return env


ASYNC_CLIENTS = (
    ClientSpec("ferry-async", "ferry-async", COMPILED),
    ClientSpec("ferry-async-pure", "ferry-async", PURE),
    ClientSpec("aiohttp", "aiohttp"),
    ClientSpec("httpx-async", "httpx-async"),
)
BLOCKING_CLIENTS = (
    ClientSpec("ferry", "ferry-blocking", COMPILED),
    ClientSpec("ferry-pure", "ferry-blocking", PURE),
    ClientSpec("urllib3", "urllib3"),  # PoolManager, full URLs
    ClientSpec("urllib3-pool", "urllib3-pool"),  # HTTPConnectionPool, paths
    ClientSpec("requests", "requests"),
    ClientSpec("httpx", "httpx"),
    ClientSpec("http.client", "http.client", stdlib=True),
)
CLIENTS = (*ASYNC_CLIENTS, *BLOCKING_CLIENTS)
# (client, peer, ratio): the client's requests/s ≥ ratio x the peer's (issue 16), checked
# for each Ferry build.
TARGETS = (
    ("ferry-async", "aiohttp", 2.0),
    ("ferry", "urllib3", 2.5),
    ("ferry", "http.client", 1.1),
)
RUN_MARGIN_S = 60  # on top of warm-up and duration, before a client run is killed


@dataclass(frozen=True)
class ClientRound:
    """One run of one client: right responses per second, or why it does not count."""

    requests_per_s: float | None
    cpu_us_per_request: float | None = None
    problem: str | None = None  # errors, wrong responses, a crash, the wrong Ferry build


@dataclass(frozen=True)
class ClientResult:
    """A client over all its rounds: the median round's numbers, every round's rate, and
    `void` (why its numbers must not be compared) if any round had a problem."""

    client: str
    requests_per_s: float | None
    cpu_us_per_request: float | None = None
    rounds: tuple[float | None, ...] = ()
    void: str | None = None
    ferry_build: str | None = None
    load: str = ""  # "async" or "blocking"
    command: str = ""


def command(spec: ClientSpec, url: str, warmup: float, duration: float) -> list[str]:
    """client_load.py's command line, pinned to the load core (nginx has the other)."""
    return [
        *("taskset", "-c", loadgen.LOAD_CORE, str(spec.python), str(LOAD_SCRIPT)),
        *(spec.load_name, url, str(warmup), str(duration)),
    ]


def shown_command(spec: ClientSpec, argv: list[str]) -> str:
    """The command as a shell would run it, with the environment it was given."""
    return ("FERRY_PURE=1 " if spec.ferry_build == PURE else "") + shlex.join(argv)


def measure(spec: ClientSpec, url: str, warmup: float, duration: float) -> ClientRound:
    """Run client_load.py for one client; its round, or the problem that voids it."""
    try:
        done = subprocess.run(
            command(spec, url, warmup, duration),
            capture_output=True,
            text=True,
            check=True,
            timeout=warmup + duration + RUN_MARGIN_S,
            env=spec.environment(os.environ),
        )
        report = json.loads(done.stdout)
    except subprocess.CalledProcessError as exc:
        return ClientRound(None, problem=(exc.stderr or "").strip()[-500:] or str(exc))
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return ClientRound(None, problem=str(exc))
    return judge(spec, report)


def judge(spec: ClientSpec, report: Mapping[str, Any]) -> ClientRound:
    """A client_load.py report as a round: its rate, unless errors, wrong responses or
    the wrong Ferry build void it (the rate is kept, to show, but never compared)."""
    requests, seconds = report["requests"], report["seconds"]
    rate = requests / seconds if seconds > 0 else 0.0
    cpu_us = 1e6 * report["cpu_seconds"] / requests if requests else None
    errors, wrong = report["errors"], report["wrong"]
    problems = []
    if errors or wrong:
        problems.append(f"{errors} errors, {wrong} wrong responses (first: {report['problem']})")
    if not requests:
        problems.append("no right response")
    if spec.ferry_build is not None and report.get("accelerated") != (spec.ferry_build == COMPILED):
        build = "compiled" if report.get("accelerated") else "pure"
        problems.append(f"ran {build} Ferry, not {spec.ferry_build} (is `make install` done?)")
    return ClientRound(rate, cpu_us, "; ".join(problems) or None)


def rotated(items: tuple[ClientSpec, ...], round_index: int) -> list[ClientSpec]:
    """`items` started at place `round_index` (mod their count): round r's order."""
    first = round_index % len(items) if items else 0
    return [*items[first:], *items[:first]]


def combine(spec: ClientSpec, rounds: list[ClientRound], argv: str = "") -> ClientResult:
    """One client's rounds as its result: the median clean round (the lower middle one
    for an even count); void, with the first problem, if any round had one."""
    problems = [r.problem for r in rounds if r.problem is not None]
    measured = [r for r in rounds if r.requests_per_s is not None]
    chosen = None
    if measured:
        ranked = sorted(measured, key=lambda r: r.requests_per_s or 0.0)
        chosen = ranked[(len(ranked) - 1) // 2]
    void = None
    if problems:
        void = f"{len(problems)} of {len(rounds)} rounds void: {problems[0]}"
    return ClientResult(
        spec.name,
        chosen.requests_per_s if chosen else None,
        chosen.cpu_us_per_request if chosen else None,
        tuple(None if r.problem else r.requests_per_s for r in rounds),
        void,
        spec.ferry_build,
        "async" if spec in ASYNC_CLIENTS else "blocking",
        argv,
    )


def run(scratch: Path, warmup: float, duration: float, rounds: int) -> list[ClientResult]:
    """Start nginx, measure every client `rounds` times, interleaved, stop nginx.

    If nginx fails to start or dies, every client is void with nginx's error."""
    samples: dict[str, list[ClientRound]] = {spec.name: [] for spec in CLIENTS}
    argv: dict[str, str] = {}
    try:
        _run_rounds(scratch, warmup, duration, rounds, samples, argv)
    except servers.ServerError as exc:
        for spec in CLIENTS:
            samples[spec.name].append(ClientRound(None, problem=f"nginx: {exc}"))
    return [combine(spec, samples[spec.name], argv.get(spec.name, "")) for spec in CLIENTS]


def _run_rounds(
    scratch: Path,
    warmup: float,
    duration: float,
    rounds: int,
    samples: dict[str, list[ClientRound]],
    argv: dict[str, str],
) -> None:
    """The rounds of `run`, against one nginx; each client's rounds go into `samples`."""
    with servers.running(servers.SERVERS["nginx"], scratch) as server:
        url = f"http://{servers.HOST}:{server.port}{PATH}"
        print(f"    $ {shlex.join(server.command)}", flush=True)
        for round_index in range(rounds):
            for spec in rotated(CLIENTS, round_index):
                label = f" (round {round_index + 1} of {rounds})" if rounds > 1 else ""
                print(f"  {spec.name}{label}", flush=True)
                argv[spec.name] = shown_command(spec, command(spec, url, warmup, duration))
                sample = measure(spec, url, warmup, duration)
                print(f"    -> {_round_summary(sample)}", flush=True)
                samples[spec.name].append(sample)


def _round_summary(sample: ClientRound) -> str:
    shown = "—" if sample.requests_per_s is None else f"{sample.requests_per_s:,.0f} req/s"
    if sample.cpu_us_per_request is not None:
        shown += f", {sample.cpu_us_per_request:,.0f} µs CPU a request"
    return f"{shown}; VOID: {sample.problem}" if sample.problem else shown


@dataclass(frozen=True)
class ClientCheck:
    """One target for one Ferry build: the measured ratio (None if not comparable)."""

    label: str
    ratio: float | None
    needed: float
    verdict: str  # "pass", "FAIL", "void" or "not measured"


def checks(results: Iterable[ClientResult]) -> list[ClientCheck]:
    """Every target, for Ferry compiled and for Ferry pure."""
    by_name = {result.client: result for result in results}
    found = []
    for client, peer, needed in TARGETS:
        for ours in (client, f"{client}-pure"):
            label = f"{ours} ÷ {peer} ≥ {needed:.1f}x"
            found.append(_check(label, by_name.get(ours), by_name.get(peer), needed))
    return found


def _check(
    label: str, ours: ClientResult | None, theirs: ClientResult | None, needed: float
) -> ClientCheck:
    if ours is None or theirs is None or not ours.requests_per_s or not theirs.requests_per_s:
        return ClientCheck(label, None, needed, "not measured")
    if ours.void or theirs.void:
        return ClientCheck(label, None, needed, "void")
    ratio = ours.requests_per_s / theirs.requests_per_s
    return ClientCheck(label, ratio, needed, "pass" if ratio >= needed else "FAIL")


def format_report(results: list[ClientResult], duration: float, rounds: int) -> str:
    """The client table (per group: req/s, CPU time per request, the ratio of each Ferry
    build to each client, notes) and the targets."""
    rounds_text = f", median of {rounds} rounds" if rounds > 1 else ""
    lines = [f"client — GET {PATH} on nginx over keep-alive, {duration:g} s{rounds_text}"]
    for load, title in (("async", "async, 32 in flight"), ("blocking", "blocking, one connection")):
        group = [r for r in results if r.load == load]
        ferries = [r for r in group if r.ferry_build is not None]
        header = ("client", "req/s", "CPU/request", *(f"{f.client} ÷" for f in ferries))
        rows = [(*header, "notes")]
        rows += [_row(result, ferries) for result in group]
        lines.append(f"  {title}")
        lines += _aligned(rows)
    lines.append("  targets")
    for found in checks(results):
        shown = "—" if found.ratio is None else f"{found.ratio:.2f}x"
        lines.append(f"    {found.label}: {shown} {found.verdict}")
    return "\n".join(lines)


def _row(result: ClientResult, ferries: list[ClientResult]) -> tuple[str, ...]:
    rate = "FAILED" if result.requests_per_s is None else f"{result.requests_per_s:,.0f}"
    cpu = "—" if result.cpu_us_per_request is None else f"{result.cpu_us_per_request:,.0f} µs"
    ratios = [_ratio(ferry, result) for ferry in ferries]
    notes = [f"VOID: {result.void}"] if result.void else []
    clean = [rate for rate in result.rounds if rate is not None]
    if len(result.rounds) > 1 and not result.void:
        notes.append(f"rounds {min(clean):,.0f} to {max(clean):,.0f}")
    return (result.client, rate, cpu, *ratios, ", ".join(notes))


def _ratio(ours: ClientResult, theirs: ClientResult) -> str:
    """ours' requests/s ÷ theirs' as "2.31x"; "—" if either is void or has none."""
    if ours.void or theirs.void or not ours.requests_per_s or not theirs.requests_per_s:
        return "—"
    return f"{ours.requests_per_s / theirs.requests_per_s:.2f}x"


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:-1], widths[1:-1], strict=True)]
        lines.append("    " + "  ".join([*cells, row[-1]]).rstrip())
    return lines
