"""The Prometheus text exposition format, version 0.0.4, of a ``Snapshot``: what a
scrape of ``/metrics`` answers. Sans-IO: values in, bytes out.

Each family has its ``# HELP`` and ``# TYPE`` lines, then its samples; names and units
follow Prometheus's conventions (base units: seconds, bytes; counters end in
``_total``). Label values here are Ferry's own (methods, statuses, reasons, numbers),
never a client's text, so they need no escaping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from ._layout import (
    BUCKETS,
    CELLS,
    CONNECTIONS,
    DURATION_SUM,
    ERRORS,
    FIRST_REQUESTS,
    HISTOGRAM,
    METHOD_LABELS,
    PROTOCOL_ERRORS,
    REQUEST_BYTES,
    RESPONSE_BYTES,
    STATUS_COLUMNS,
    STATUS_LABELS,
)
from ._process import ProcessStats
from ._slots import Snapshot

__all__ = ["CONTENT_TYPE", "RESTART_REASONS", "render"]

CONTENT_TYPE: Final = b"text/plain; version=0.0.4; charset=utf-8"
# Why the main process of --workers replaced or stopped a worker (see the Supervisor).
RESTART_REASONS: Final = ("crash", "killed", "timeout", "max_requests", "reload", "ttou")

Labels = Mapping[str, str]


class _Text:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help: str) -> None:
        self.lines.append(f"# HELP {name} {help}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, labels: Labels | None = None) -> None:
        text = repr(value) if isinstance(value, float) else str(int(value))
        if labels:
            pairs = ",".join(f'{key}="{label}"' for key, label in labels.items())
            self.lines.append(f"{name}{{{pairs}}} {text}")
        else:
            self.lines.append(f"{name} {text}")

    def one(self, name: str, kind: str, help: str, value: float) -> None:
        self.family(name, kind, help)
        self.sample(name, value)


def render(
    snapshot: Snapshot,
    processes: Iterable[tuple[Labels, ProcessStats]] = (),
    restarts: Mapping[str, int] | None = None,
) -> bytes:
    """The exposition of ``snapshot``, with the ``process_*`` metrics of ``processes``
    (labelled, for the workers' main process, by ``worker``) and, for it too, the
    worker ``restarts`` by reason (None: a single process, no such family)."""
    text = _Text()
    words = snapshot.words
    _requests(text, words)
    _duration(text, words)
    text.one(
        "ferry_requests_in_flight",
        "gauge",
        "Requests whose response is not complete.",
        snapshot.in_flight,
    )
    text.one("ferry_connections_open", "gauge", "Open connections.", snapshot.open_connections)
    text.one("ferry_connections_total", "counter", "Connections accepted.", words[CONNECTIONS])
    answered = sum(int(words[index]) for index in range(CELLS, len(words)))
    text.one(
        "ferry_keepalive_reuses_total",
        "counter",
        "Responses sent on a connection that had carried a response before.",
        answered - int(words[FIRST_REQUESTS]),
    )
    _protocol_errors(text, words)
    text.one(
        "ferry_request_bytes_total",
        "counter",
        "Request body bytes received.",
        words[REQUEST_BYTES],
    )
    text.one(
        "ferry_response_bytes_total",
        "counter",
        "Response body bytes sent.",
        words[RESPONSE_BYTES],
    )
    if restarts is not None:
        text.family(
            "ferry_worker_restarts_total", "counter", "Workers replaced or stopped, by reason."
        )
        for reason in RESTART_REASONS:
            text.sample("ferry_worker_restarts_total", restarts.get(reason, 0), {"reason": reason})
    _loop_lag(text, snapshot, restarts is not None)
    _processes(text, list(processes))
    return ("\n".join(text.lines) + "\n").encode()


def _requests(text: _Text, words: list[float]) -> None:
    text.family("ferry_requests_total", "counter", "Responses sent, by request method and status.")
    for row, method in enumerate(METHOD_LABELS):
        start = CELLS + row * STATUS_COLUMNS
        for column, status in enumerate(STATUS_LABELS):
            count = words[start + column]
            if count:
                text.sample("ferry_requests_total", count, {"method": method, "status": status})


def _duration(text: _Text, words: list[float]) -> None:
    name = "ferry_request_duration_seconds"
    text.family(name, "histogram", "Time from a request's head parsed to its response sent.")
    cumulative = 0
    for offset, bound in enumerate((*BUCKETS, float("inf"))):
        cumulative += int(words[HISTOGRAM + offset])
        label = "+Inf" if bound == float("inf") else repr(bound)
        text.sample(f"{name}_bucket", cumulative, {"le": label})
    text.sample(f"{name}_sum", float(words[DURATION_SUM]))
    text.sample(f"{name}_count", cumulative)


def _protocol_errors(text: _Text, words: list[float]) -> None:
    name = "ferry_protocol_errors_total"
    text.family(name, "counter", "Error responses the server sent for a broken request, by status.")
    for offset, status in enumerate(PROTOCOL_ERRORS):
        text.sample(name, words[ERRORS + offset], {"status": str(status)})


def _loop_lag(text: _Text, snapshot: Snapshot, by_worker: bool) -> None:
    name = "ferry_event_loop_lag_seconds"
    text.family(name, "gauge", "How late the event loop last ran a timer, in seconds.")
    for index, _, lag in snapshot.live:
        text.sample(name, float(lag), {"worker": str(index)} if by_worker else None)


def _processes(text: _Text, processes: list[tuple[Labels, ProcessStats]]) -> None:
    families = (
        (
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time, seconds.",
            "cpu_seconds",
        ),
        ("process_resident_memory_bytes", "gauge", "Resident memory, bytes.", "resident_bytes"),
        ("process_virtual_memory_bytes", "gauge", "Virtual memory, bytes.", "virtual_bytes"),
        ("process_open_fds", "gauge", "Open file descriptors.", "open_fds"),
        ("process_max_fds", "gauge", "The limit on open file descriptors.", "max_fds"),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process, seconds since the epoch.",
            "start_time",
        ),
    )
    for name, kind, help, attribute in families:
        text.family(name, kind, help)
        for labels, stats in processes:
            text.sample(name, getattr(stats, attribute), labels)
