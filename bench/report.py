"""Results: the targets Ferry must meet, the printed tables, and the JSON files."""

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from idle_memory import MemoryResult
from loadgen import PROFILES, LoadResult

FERRY = "ferry"
MEMORY = "memory"
WEBSOCKET = "websocket"
RESULTS_DIR = Path(__file__).with_name("results")


@dataclass(frozen=True)
class Outcome:
    """One server in one scenario: its result, or why there is none."""

    scenario: str
    server: str
    server_command: str | None = None
    load: LoadResult | None = None
    memory: MemoryResult | None = None
    error: str | None = None
    # With --rounds N > 1: the throughput of each round in the order run (the scenario's
    # metric; None for a round that failed or was not clean). `load` is the median round's.
    rounds: tuple[float | None, ...] = ()
    # The workers scenario: the resident memory of the main process, then of each of its
    # descendants (workers), in bytes, read at the end of the load.
    rss: tuple[int, ...] = ()


@dataclass(frozen=True)
class Target:
    """`server`'s throughput (the scenario's metric: requests/s or bytes/s) over `peer`'s
    at least `threshold`; or, with no peer, Ferry's bytes per idle connection at most
    `threshold`."""

    scenario: str
    peer: str | None
    threshold: float
    server: str = FERRY

    @property
    def label(self) -> str:
        if self.peer is None:
            return f"{self.scenario}: ferry bytes per idle connection"
        return f"{self.scenario}: {self.server} ÷ {self.peer} {metric_unit(self.scenario)}"

    @property
    def requirement(self) -> str:
        if self.peer is None:
            return f"≤ {self.threshold:,.0f} B"
        return f"≥ {self.threshold:.2f}x"


@dataclass(frozen=True)
class TargetCheck:
    label: str
    requirement: str
    measured: float | None
    shown: str
    verdict: str  # "pass", "fail" or "not measured"


TARGETS = (
    Target("hello", "uvicorn", 2.0),
    Target("hello", "granian", 1.5),
    Target("hello", "nginx", 0.6),
    Target("pipeline", "nginx", 0.6),
    Target(MEMORY, None, 2048),
    Target("static-small", "nginx", 0.7),
    Target("static-small", "nginx", 0.7, server="ferry-asyncio"),
    Target("static-large", "nginx", 0.9),
    Target("static-large", "nginx", 0.9, server="ferry-asyncio"),
    Target("wsgi", "gunicorn-gthread", 1.5),
    Target(WEBSOCKET, "uvicorn", 1.5),
    Target("workers", "uvicorn", 2.0),
    # Issue 14. https-handshakes is reported, with no target.
    Target("https-hello", "uvicorn", 1.5),
    Target("https-static-large", "nginx", 0.6),
    # Metrics on stay within 5 % of metrics off.
    Target("metrics", "ferry", 0.95, server="ferry-metrics"),
)


def metric_unit(scenario: str) -> str:
    """What a scenario's throughput is compared in: "req/s", "bytes/s", or (WebSocket
    echo) "round trips/s"."""
    if scenario == WEBSOCKET:
        return "round trips/s"
    profile = PROFILES.get(scenario)
    return "bytes/s" if profile is not None and profile.metric == "bytes" else "req/s"


def mib(bytes_per_s: float) -> str:
    return f"{bytes_per_s / 2**20:,.1f} MiB/s"


def find(outcomes: Iterable[Outcome], scenario: str, server: str) -> Outcome | None:
    return next((o for o in outcomes if o.scenario == scenario and o.server == server), None)


def throughput(outcomes: list[Outcome], scenario: str, server: str) -> float | None:
    """The server's throughput in the scenario's metric (requests/s, or bytes/s), or None
    if it has no clean run.

    A run with socket errors or non-2xx responses is not clean: fast errors are not
    throughput.
    """
    outcome = find(outcomes, scenario, server)
    return None if outcome is None else clean_throughput(outcome)


def clean_throughput(outcome: Outcome) -> float | None:
    """The outcome's throughput in its scenario's metric, or None if it is not clean."""
    load = outcome.load
    if load is None or load.socket_errors or load.bad_responses:
        return None
    return load.bytes_per_s if metric_unit(outcome.scenario) == "bytes/s" else load.requests_per_s


def median_outcome(samples: list[Outcome]) -> Outcome:
    """One server's rounds of one scenario as one outcome: the round with the median
    throughput (the lower of the two middle ones for an even count), its list of rounds
    attached.

    A round that failed or was not clean stands for them all: one bad round is a fault to
    report, not noise to drop.
    """
    metrics = [clean_throughput(sample) for sample in samples]
    bad = [sample for sample, metric in zip(samples, metrics, strict=True) if metric is None]
    if bad:
        chosen = bad[0]
    else:
        ranked = sorted(zip(metrics, range(len(samples)), strict=True))
        chosen = samples[ranked[(len(samples) - 1) // 2][1]]
    return replace(chosen, rounds=tuple(metrics)) if len(samples) > 1 else chosen


def check(target: Target, outcomes: list[Outcome]) -> TargetCheck:
    if target.peer is None:
        outcome = find(outcomes, target.scenario, FERRY)
        measured = outcome.memory.bytes_per_connection if outcome and outcome.memory else None
        passed = measured is not None and measured <= target.threshold
        shown = "—" if measured is None else f"{measured:,.0f} B"
    else:
        ferry = throughput(outcomes, target.scenario, target.server)
        peer = throughput(outcomes, target.scenario, target.peer)
        measured = ferry / peer if ferry is not None and peer else None
        passed = measured is not None and measured >= target.threshold
        shown = "—" if measured is None else f"{measured:.2f}x"
    verdict = "not measured" if measured is None else ("pass" if passed else "fail")
    return TargetCheck(target.label, target.requirement, measured, shown, verdict)


def evaluate(outcomes: list[Outcome], scenarios: list[str]) -> list[TargetCheck]:
    """Check every target whose scenario was run."""
    return [check(target, outcomes) for target in TARGETS if target.scenario in scenarios]


def format_load_table(outcomes: list[Outcome], scenario: str, heading: str) -> str:
    """One row per server: req/s, bytes/s, p99, and Ferry's ratio in the scenario's metric."""
    ferry = throughput(outcomes, scenario, FERRY)
    ratio_heading = f"ferry ÷ server ({metric_unit(scenario)})"
    rate = "round trips/s" if scenario == WEBSOCKET else "req/s"
    rows: list[tuple[str, ...]] = [("server", rate, "bytes/s", "p99", ratio_heading, "notes")]
    for outcome in (o for o in outcomes if o.scenario == scenario):
        rows.append(_load_row(outcome, ferry, throughput(outcomes, scenario, outcome.server)))
    return f"{heading}\n{_format_rows(rows)}"


def _load_row(outcome: Outcome, ferry: float | None, own: float | None) -> tuple[str, ...]:
    load = outcome.load
    if load is None:
        return (outcome.server, "—", "—", "—", "—", f"FAILED: {_first_line(outcome.error)}")
    notes = []
    if load.socket_errors:
        notes.append(f"{load.socket_errors} socket errors")
    if load.bad_responses:
        notes.append(f"{load.bad_responses} non-2xx/3xx")
    if outcome.rounds:
        notes.append(_rounds_note(outcome))
    if outcome.rss:
        notes.append(_rss_note(outcome.rss))
    ratio = f"{ferry / own:.2f}x" if ferry and own else "—"
    p99 = "—" if load.p99_ms is None else f"{load.p99_ms:.2f} ms"
    return (
        outcome.server,
        f"{load.requests_per_s:,.0f}",
        mib(load.bytes_per_s),
        p99,
        ratio,
        ", ".join(notes),
    )


def _rounds_note(outcome: Outcome) -> str:
    """How many rounds, and how far apart: "median of 5 (5,601 to 6,772 req/s)"."""
    clean = [metric for metric in outcome.rounds if metric is not None]
    if len(clean) < len(outcome.rounds):
        return f"{len(outcome.rounds) - len(clean)} of {len(outcome.rounds)} rounds not clean"
    unit = metric_unit(outcome.scenario)
    if unit == "bytes/s":
        spread = f"{min(clean) / 2**20:,.0f} to {max(clean) / 2**20:,.0f} MiB/s"
    else:
        spread = f"{min(clean):,.0f} to {max(clean):,.0f} {unit}"
    return f"median of {len(clean)} ({spread})"


def _rss_note(rss: tuple[int, ...]) -> str:
    """The RSS note: "RSS main 21.0 MiB + 2 workers 30.1/30.4 MiB" (then descendants)."""
    main, *others = rss
    each = "/".join(f"{size / 2**20:.1f}" for size in others)
    return f"RSS main {main / 2**20:.1f} MiB + {len(others)} workers {each} MiB"


def format_memory_table(outcomes: list[Outcome], heading: str) -> str:
    rows: list[tuple[str, ...]] = [("server", "RSS before", "RSS after", "per connection", "notes")]
    for outcome in (o for o in outcomes if o.scenario == MEMORY):
        memory = outcome.memory
        if memory is None:
            rows.append((outcome.server, "—", "—", "—", f"FAILED: {_first_line(outcome.error)}"))
            continue
        rows.append(
            (
                outcome.server,
                f"{memory.rss_before / 2**20:,.1f} MiB",
                f"{memory.rss_after / 2**20:,.1f} MiB",
                f"{memory.bytes_per_connection:,.0f} B",
                f"opened in {memory.open_seconds:.1f} s",
            )
        )
    return f"{heading}\n{_format_rows(rows)}"


def format_targets(checks: list[TargetCheck]) -> str:
    rows = [(c.label, c.shown, c.requirement, c.verdict.upper()) for c in checks]
    return format_rows_table("targets", rows)


def format_rows_table(heading: str, rows: list[tuple[str, str, str, str]]) -> str:
    """A table of targets: (target, measured, needed, result) rows under `heading`."""
    header: tuple[str, ...] = ("target", "measured", "needed", "result")
    return f"{heading}\n{_format_rows([header, *rows])}"


def _format_rows(rows: list[tuple[str, ...]]) -> str:
    """Align columns: the first left-aligned, the numbers right-aligned, notes last."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:-1], widths[1:-1], strict=True)]
        cells.append(row[-1])
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _first_line(text: str | None) -> str:
    return (text or "unknown error").strip().splitlines()[0]


def build_document(
    header: dict[str, Any], outcomes: list[Outcome], checks: list[TargetCheck]
) -> dict[str, Any]:
    """The JSON results: `header` (when, command, settings, versions) plus results."""
    return {
        **header,
        "results": [asdict(outcome) for outcome in outcomes],
        "targets": [asdict(target_check) for target_check in checks],
    }


def write_results(document: dict[str, Any], stamp: str) -> list[Path]:
    """Write results/<stamp>.json and results/latest.json; return their paths.

    Each file is written to a `.tmp` sibling first and renamed, so a reader never sees
    half a file.
    """
    RESULTS_DIR.mkdir(exist_ok=True)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    paths = [RESULTS_DIR / f"{stamp}.json", RESULTS_DIR / "latest.json"]
    for path in paths:
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(text)
        os.replace(temporary, path)
    return paths
