"""The metrics core without sockets: what a Recorder writes into a slot, what the slots
sum to (a retired slot's counters kept, its gauges dropped), and the exposition read
back by Prometheus's own parser; the scrape's HTTP, bytes in and bytes out."""

from __future__ import annotations

import os
import time

import pytest

from ferry.http1 import Request, ServerConnection
from ferry.metrics import (
    CONTENT_TYPE,
    ProcessStats,
    Recorder,
    ScrapeExchange,
    SharedSlots,
    process_stats,
    render,
)
from ferry.metrics._layout import SLOT_BYTES, WORDS
from ferry.metrics._recorder import PUBLISH_EVERY

from ._scrape import Samples, parse, value


def request(method: bytes) -> Request:
    """A request as the engine parses it."""
    conn = ServerConnection()
    conn.receive_data(method + b" / HTTP/1.1\r\nHost: t\r\n\r\n")
    event = conn.next_event()
    assert type(event) is Request
    return event


def recorder(slots: SharedSlots) -> Recorder:
    index = slots.assign()
    assert index is not None
    return Recorder(slots.slot(index))


def test_counts_by_method_and_status_bounded() -> None:
    slots = SharedSlots(1)
    counts = recorder(slots)
    now = time.perf_counter()
    counts.exchange(request(b"GET"), 200, 13, now, True)
    counts.exchange(request(b"GET"), 200, 13, now, False)
    counts.exchange(request(b"PATCH"), 404, 0, now, False)
    counts.exchange(request(b"BREW"), 418, 5, now, True)  # RFC 2324: not a method of ours
    counts.exchange(request(b"GET"), 999, 0, now, False)  # outside 100-599
    counts.exchange(None, 500, 0, now, False)
    counts.publish()
    samples, types = parse(render(slots.snapshot()).decode())
    assert value(samples, "ferry_requests_total", method="GET", status="200") == 2
    assert value(samples, "ferry_requests_total", method="PATCH", status="404") == 1
    assert value(samples, "ferry_requests_total", method="other", status="418") == 1
    assert value(samples, "ferry_requests_total", method="GET", status="other") == 1
    assert value(samples, "ferry_requests_total", method="other", status="500") == 1
    requests = [key for key in samples if key[0] == "ferry_requests_total"]
    assert len(requests) == 5
    assert value(samples, "ferry_response_bytes_total") == 31
    assert value(samples, "ferry_keepalive_reuses_total") == 4  # 6 responses, 2 first ones
    assert types["ferry_requests"] == "counter"
    assert types["ferry_request_duration_seconds"] == "histogram"
    assert types["ferry_requests_in_flight"] == "gauge"


def test_duration_buckets_from_half_a_millisecond() -> None:
    slots = SharedSlots(1)
    counts = recorder(slots)
    now = time.perf_counter()
    for ago in (0.0, 0.003, 0.003, 0.2, 20.0):
        counts.exchange(request(b"GET"), 200, 0, now - ago, True)
    counts.publish()
    samples, _ = parse(render(slots.snapshot()).decode())
    bucket = "ferry_request_duration_seconds_bucket"
    assert value(samples, bucket, le="0.0005") == 1
    assert value(samples, bucket, le="0.0025") == 1
    assert value(samples, bucket, le="0.005") == 3
    assert value(samples, bucket, le="0.25") == 4
    assert value(samples, bucket, le="10.0") == 4
    assert value(samples, bucket, le="+Inf") == 5
    assert value(samples, "ferry_request_duration_seconds_count") == 5
    assert 20.206 <= value(samples, "ferry_request_duration_seconds_sum") < 20.3


def test_the_rest_of_the_counters_and_gauges() -> None:
    slots = SharedSlots(1)
    counts = recorder(slots)
    counts.connection_opened()
    counts.connection_opened()
    counts.body_received(100)
    counts.body_received(28)
    for status in (400, 431, 431, 414, 413, 417, 408, 501, 505, 503, 500):
        counts.protocol_error(status)  # 503 and 500 are not protocol errors
    counts.gauges(3, 2)
    counts.loop_lag(0.25)
    counts.publish()
    samples, _ = parse(render(slots.snapshot()).decode())
    assert value(samples, "ferry_connections_total") == 2
    assert value(samples, "ferry_request_bytes_total") == 128
    errors = {
        labels[0][1]: count
        for (name, labels), count in samples.items()
        if name == "ferry_protocol_errors_total"
    }
    expected = {"400": 1, "408": 1, "413": 1, "414": 1, "417": 1, "431": 2, "501": 1, "505": 1}
    assert errors == expected
    assert value(samples, "ferry_requests_in_flight") == 3
    assert value(samples, "ferry_connections_open") == 2
    assert value(samples, "ferry_event_loop_lag_seconds") == 0.25
    assert ("ferry_worker_restarts_total", (("reason", "crash"),)) not in samples


def test_slots_sum_and_a_retired_slot_keeps_its_counters_only() -> None:
    slots = SharedSlots(3)
    first, second = recorder(slots), recorder(slots)
    now = time.perf_counter()
    for counts in (first, second, second):
        counts.exchange(request(b"GET"), 200, 10, now, True)
        counts.connection_opened()
    first.gauges(1, 1)
    second.gauges(2, 2)
    first.publish()
    second.publish()
    samples, _ = parse(render(slots.snapshot(), restarts={"killed": 1}).decode())
    assert value(samples, "ferry_requests_total", method="GET", status="200") == 3
    assert value(samples, "ferry_requests_in_flight") == 3
    assert value(samples, "ferry_worker_restarts_total", reason="killed") == 1
    assert value(samples, "ferry_worker_restarts_total", reason="reload") == 0
    lags = {key for key in samples if key[0] == "ferry_event_loop_lag_seconds"}
    assert lags == {
        ("ferry_event_loop_lag_seconds", (("worker", "0"),)),
        ("ferry_event_loop_lag_seconds", (("worker", "1"),)),
    }
    slots.retire(0)
    slots.retire(0)  # twice: nothing more
    samples, _ = parse(render(slots.snapshot(), restarts={}).decode())
    assert value(samples, "ferry_requests_total", method="GET", status="200") == 3
    assert value(samples, "ferry_connections_total") == 3
    assert value(samples, "ferry_response_bytes_total") == 30
    assert value(samples, "ferry_request_duration_seconds_count") == 3
    assert value(samples, "ferry_requests_in_flight") == 2  # the retired one's dropped
    assert value(samples, "ferry_connections_open") == 2
    assert slots.assign() == 0  # the lowest free slot, zeroed for its next worker
    assert bytes(slots.slot(0)) == bytes(SLOT_BYTES)
    assert slots.assign() == 2
    assert slots.assign() is None  # all taken: that worker goes uncounted
    assert WORDS * 8 <= SLOT_BYTES


def test_slots_shared_with_a_forked_child_even_when_it_is_killed() -> None:
    """What a child published survives its SIGKILL; what it counted after, not yet
    published, is the price of batching (at most PUBLISH_EVERY - 1 responses)."""
    slots = SharedSlots(1)
    index = slots.assign()
    assert index is not None
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        counts = Recorder(slots.slot(index))
        counts.exchange(request(b"POST"), 201, 7, time.perf_counter(), True)
        counts.connection_opened()
        counts.publish()
        counts.exchange(request(b"POST"), 201, 7, time.perf_counter(), True)  # lost
        os.kill(os.getpid(), 9)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    slots.retire(index)
    samples, _ = parse(render(slots.snapshot()).decode())
    assert value(samples, "ferry_requests_total", method="POST", status="201") == 1
    assert value(samples, "ferry_response_bytes_total") == 7
    assert value(samples, "ferry_connections_total") == 1
    assert value(samples, "ferry_request_duration_seconds_count") == 1


def counted(slots: SharedSlots) -> Samples:
    samples, _ = parse(render(slots.snapshot()).decode())
    return samples


def test_counts_reach_the_slot_at_publish_or_every_publish_every_responses() -> None:
    slots = SharedSlots(1)
    counts = recorder(slots)
    now = time.perf_counter()
    get = request(b"GET")
    for _ in range(PUBLISH_EVERY - 1):
        counts.exchange(get, 200, 2, now, False)
    counts.connection_opened()
    counts.body_received(5)
    assert value(counted(slots), "ferry_requests_total", method="GET", status="200") == 0
    assert value(counted(slots), "ferry_response_bytes_total") == 0
    counts.exchange(get, 200, 2, now, True)  # the PUBLISH_EVERY-th: stored
    samples = counted(slots)
    assert value(samples, "ferry_requests_total", method="GET", status="200") == PUBLISH_EVERY
    assert value(samples, "ferry_request_duration_seconds_count") == PUBLISH_EVERY
    assert value(samples, "ferry_response_bytes_total") == 2 * PUBLISH_EVERY
    assert value(samples, "ferry_connections_total") == 1
    assert value(samples, "ferry_request_bytes_total") == 5
    assert value(samples, "ferry_keepalive_reuses_total") == PUBLISH_EVERY - 1
    counts.exchange(get, 404, 0, now, True)
    assert value(counted(slots), "ferry_requests_total", method="GET", status="404") == 0
    counts.publish()
    assert value(counted(slots), "ferry_requests_total", method="GET", status="404") == 1
    counts.publish()  # nothing new: the same totals
    samples = counted(slots)
    assert value(samples, "ferry_requests_total", method="GET", status="404") == 1
    assert value(samples, "ferry_request_duration_seconds_count") == PUBLISH_EVERY + 1


def test_runs_across_alternating_cells_and_buckets_are_exact() -> None:
    slots = SharedSlots(1)
    counts = recorder(slots)
    get, post = request(b"GET"), request(b"POST")
    expected: dict[tuple[str, str], int] = {}
    buckets = {"0.0005": 0, "0.005": 0, "+Inf": 0}
    statuses = (200, 200, 201, 404, 200, 500, 500, 500, 200)
    for turn in range(300):  # several publishes, at the tick and every PUBLISH_EVERY
        method, name = (get, "GET") if turn % 3 else (post, "POST")
        status = statuses[turn % len(statuses)]
        ago = (0.0, 0.003, 0.003, 20.0)[turn % 4]
        now = time.perf_counter()  # each its own: 300 turns take longer than a bucket
        counts.exchange(method, status, 1, now - ago, turn % 5 == 0)
        expected[name, str(status)] = expected.get((name, str(status)), 0) + 1
        if ago == 0.0:
            buckets["0.0005"] += 1
        if ago <= 0.003:
            buckets["0.005"] += 1
        buckets["+Inf"] += 1
        if turn % 37 == 0:
            counts.publish()
    counts.publish()
    samples = counted(slots)
    found = {
        (dict(labels)["method"], dict(labels)["status"]): count
        for (name, labels), count in samples.items()
        if name == "ferry_requests_total"
    }
    assert found == expected
    bucket = "ferry_request_duration_seconds_bucket"
    for le, count in buckets.items():
        assert value(samples, bucket, le=le) == count
    assert value(samples, "ferry_request_duration_seconds_count") == 300
    assert value(samples, "ferry_response_bytes_total") == 300
    assert value(samples, "ferry_keepalive_reuses_total") == 300 - 60


def test_process_metrics_with_their_labels() -> None:
    stats = process_stats(os.getpid())
    assert stats is not None
    assert stats.resident_bytes > 0
    assert stats.virtual_bytes >= stats.resident_bytes
    assert stats.open_fds > 0
    assert stats.max_fds >= stats.open_fds
    assert abs(stats.start_time - time.time()) < 86400 * 30
    made = ProcessStats(1.5, 2048, 4096, 7, 1024, 1700000000.0)
    slots = SharedSlots(1)
    text = render(slots.snapshot(), [({"worker": "main"}, made), ({"worker": "0"}, stats)])
    samples, types = parse(text.decode())
    assert value(samples, "process_cpu_seconds_total", worker="main") == 1.5
    assert value(samples, "process_resident_memory_bytes", worker="main") == 2048
    assert value(samples, "process_virtual_memory_bytes", worker="main") == 4096
    assert value(samples, "process_open_fds", worker="main") == 7
    assert value(samples, "process_max_fds", worker="main") == 1024
    assert value(samples, "process_start_time_seconds", worker="main") == 1700000000.0
    assert value(samples, "process_open_fds", worker="0") == stats.open_fds
    assert types["process_cpu_seconds"] == "counter"


def test_no_process_metrics_for_a_process_gone() -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        os._exit(0)
    os.waitpid(pid, 0)
    assert process_stats(pid) is None


def test_every_family_has_help_and_type() -> None:
    text = render(SharedSlots(1).snapshot(), restarts={}).decode()
    lines = text.splitlines()
    families = [line.split()[2] for line in lines if line.startswith("# TYPE ")]
    helps = [line.split()[2] for line in lines if line.startswith("# HELP ")]
    assert families == helps
    assert families == [
        "ferry_requests_total",
        "ferry_request_duration_seconds",
        "ferry_requests_in_flight",
        "ferry_connections_open",
        "ferry_connections_total",
        "ferry_keepalive_reuses_total",
        "ferry_protocol_errors_total",
        "ferry_request_bytes_total",
        "ferry_response_bytes_total",
        "ferry_worker_restarts_total",
        "ferry_event_loop_lag_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ]
    assert text.endswith("\n")


# -- the scrape's HTTP ------------------------------------------------------------------


def scrape(data: bytes, *more: bytes) -> tuple[ScrapeExchange, bytes]:
    exchange = ScrapeExchange(lambda: b"# the exposition\n")
    out = exchange.receive_data(data)
    for piece in more:
        out += exchange.receive_data(piece)
    return exchange, out


def test_scrape_answers_the_exposition_and_closes() -> None:
    exchange, out = scrape(b"GET /metrics HTTP/1.1\r\n", b"Host: m\r\n\r\n")
    assert exchange.done
    head, _, body = out.partition(b"\r\n\r\n")
    fields = head.split(b"\r\n")
    assert fields[0] == b"HTTP/1.1 200 OK"
    assert b"content-type: " + CONTENT_TYPE in fields
    assert b"Connection: close" in fields
    assert b"Content-Length: 17" in fields
    assert body == b"# the exposition\n"
    assert exchange.receive_data(b"GET /metrics HTTP/1.1\r\nHost: m\r\n\r\n") == b""


@pytest.mark.parametrize(
    ("data", "status", "body"),
    [
        (b"GET / HTTP/1.1\r\nHost: m\r\n\r\n", b"404 Not Found", b"metrics are at /metrics\n"),
        (b"POST /metrics HTTP/1.1\r\nHost: m\r\nContent-Length: 0\r\n\r\n", b"405 ", None),
        (b"GET /metrics HTTP/1.1\r\n\r\n", b"400 Bad Request", None),
        (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n", b"414 ", None),
    ],
)
def test_scrape_of_anything_else(data: bytes, status: bytes, body: bytes | None) -> None:
    exchange, out = scrape(data)
    assert exchange.done
    assert out.startswith(b"HTTP/1.1 " + status), out
    if body is not None:
        assert out.endswith(b"\r\n\r\n" + body)
    if status.startswith(b"405"):
        assert b"\r\nallow: GET, HEAD\r\n" in out


def test_scrape_closed_before_a_whole_request() -> None:
    exchange, out = scrape(b"GET /metr")
    assert out == b""
    assert not exchange.done
    assert exchange.receive_data(b"").startswith(b"HTTP/1.1 400 Bad Request\r\n")
    exchange, out = scrape(b"")  # closed before a byte: nothing to answer
    assert out == b""
    assert exchange.done
