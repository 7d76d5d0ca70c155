"""The client scenario's judgement (bench/client_bench.py, bench/client_load.py): which
round stands for a client, what voids one, the targets for each Ferry build, and the
load loop's count of right and wrong responses. The harness imports its modules by
their flat names, so bench/ goes on the path here as it does when bench/run.py runs."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import client_bench
import client_load
from client_bench import ClientResult, ClientRound

SPECS = {spec.name: spec for spec in client_bench.CLIENTS}


def report(**changes: Any) -> dict[str, Any]:
    """A clean client_load.py report: 10,000 right responses in 2 s, 1 s of CPU."""
    fields = {
        "client": "aiohttp",
        "requests": 10_000,
        "seconds": 2.0,
        "cpu_seconds": 1.0,
        "errors": 0,
        "wrong": 0,
        "problem": None,
        "accelerated": None,
    }
    return {**fields, **changes}


def result(name: str, rate: float, void: str | None = None) -> ClientResult:
    spec = SPECS[name]
    load = "async" if spec in client_bench.ASYNC_CLIENTS else "blocking"
    return ClientResult(name, rate, 50.0, (rate,), void, spec.ferry_build, load)


def test_a_clean_report_is_a_round_of_right_responses_per_second() -> None:
    assert client_bench.judge(SPECS["aiohttp"], report()) == ClientRound(5_000.0, 100.0)


def test_errors_or_wrong_bodies_void_a_round_and_say_which() -> None:
    first = "status 200, body b'Hello, world'"
    judged = client_bench.judge(SPECS["aiohttp"], report(wrong=3, errors=1, problem=first))
    assert judged.requests_per_s == 5_000.0  # shown, never compared
    assert judged.problem == f"1 errors, 3 wrong responses (first: {first})"


@pytest.mark.parametrize(
    ("name", "accelerated", "problem"),
    [
        ("ferry-async", True, None),
        ("ferry-async-pure", False, None),
        ("ferry", False, "ran pure Ferry, not compiled (is `make install` done?)"),
        ("ferry-pure", True, "ran compiled Ferry, not pure (is `make install` done?)"),
    ],
)
def test_a_ferry_round_counts_only_for_the_build_it_claims(
    name: str, accelerated: bool, problem: str | None
) -> None:
    judged = client_bench.judge(SPECS[name], report(accelerated=accelerated))
    assert judged.problem == problem


def test_the_pure_build_runs_with_ferry_pure_and_the_compiled_one_never_inherits_it() -> None:
    base = {"PATH": "/bin", "FERRY_PURE": "1"}
    assert SPECS["ferry-pure"].environment(base) == {"PATH": "/bin", "FERRY_PURE": "1"}
    assert SPECS["ferry"].environment(base) == {"PATH": "/bin"}
    argv = client_bench.command(SPECS["ferry-pure"], "http://127.0.0.1:1/", 1, 3)
    assert argv[:3] == ["taskset", "-c", "1"]  # the load core; nginx has core 0
    assert client_bench.shown_command(SPECS["ferry-pure"], argv).startswith("FERRY_PURE=1 ")


def test_ferry_and_http_client_run_in_ferry_s_venv_the_other_peers_in_the_bench_one() -> None:
    in_ferry_venv = {
        n for n, spec in SPECS.items() if spec.python == client_bench.servers.FERRY_PYTHON
    }
    assert in_ferry_venv == {
        "ferry-async",
        "ferry-async-pure",
        "ferry",
        "ferry-pure",
        "http.client",
    }
    assert SPECS["aiohttp"].python == client_bench.environment.BENCH_PYTHON


def test_the_median_round_stands_for_the_client_and_every_round_is_kept() -> None:
    rounds = [ClientRound(rate, rate / 100) for rate in (3.0, 1.0, 4.0, 2.0)]
    combined = client_bench.combine(SPECS["aiohttp"], rounds)
    assert (combined.requests_per_s, combined.cpu_us_per_request) == (2.0, 0.02)  # lower middle
    assert combined.rounds == (3.0, 1.0, 4.0, 2.0)
    assert combined.void is None


def test_one_void_round_voids_the_client() -> None:
    rounds = [ClientRound(3.0), ClientRound(9.0, problem="2 errors"), ClientRound(1.0)]
    combined = client_bench.combine(SPECS["aiohttp"], rounds)
    assert combined.void == "1 of 3 rounds void: 2 errors"
    assert combined.rounds == (3.0, None, 1.0)


def test_each_round_starts_one_client_further() -> None:
    clients = client_bench.CLIENTS
    assert client_bench.rotated(clients, 0) == list(clients)
    assert client_bench.rotated(clients, 1) == [*clients[1:], clients[0]]
    assert client_bench.rotated(clients, len(clients)) == list(clients)


def test_targets_are_checked_for_both_builds_and_a_void_peer_voids_them() -> None:
    results = [
        result("ferry-async", 2_100.0),
        result("ferry-async-pure", 1_900.0),
        result("aiohttp", 1_000.0),
        result("ferry", 3_000.0),
        result("ferry-pure", 2_000.0),
        result("urllib3", 1_000.0, void="1 of 5 rounds void: 1 errors"),
        result("http.client", 2_500.0),
    ]
    found = {
        (c.label, c.verdict, None if c.ratio is None else round(c.ratio, 2))
        for c in client_bench.checks(results)
    }
    assert found == {
        ("ferry-async ÷ aiohttp ≥ 2.0x", "pass", 2.1),
        ("ferry-async-pure ÷ aiohttp ≥ 2.0x", "FAIL", 1.9),
        ("ferry ÷ urllib3 ≥ 2.5x", "void", None),
        ("ferry-pure ÷ urllib3 ≥ 2.5x", "void", None),
        ("ferry ÷ http.client ≥ 1.1x", "pass", 1.2),
        ("ferry-pure ÷ http.client ≥ 1.1x", "FAIL", 0.8),
    }


def test_a_missing_client_is_not_measured() -> None:
    found = client_bench.checks([result("aiohttp", 1_000.0)])
    assert {c.verdict for c in found} == {"not measured"}


def test_the_report_shows_a_void_client_without_a_ratio() -> None:
    results = [
        result("ferry-async", 2_000.0),
        result("aiohttp", 1_000.0, void="1 of 1 rounds void: 4 errors"),
    ]
    assert client_bench.format_report(results, 3, 1).splitlines() == [
        "client — GET / on nginx over keep-alive, 3 s",
        "  async, 32 in flight",
        "    client       req/s  CPU/request  ferry-async ÷  notes",
        "    ferry-async  2,000        50 µs          1.00x",
        "    aiohttp      1,000        50 µs              —  VOID: 1 of 1 rounds void: 4 errors",
        "  blocking, one connection",
        "    client  req/s  CPU/request  notes",
        "  targets",
        "    ferry-async ÷ aiohttp ≥ 2.0x: — void",
        "    ferry-async-pure ÷ aiohttp ≥ 2.0x: — not measured",
        "    ferry ÷ urllib3 ≥ 2.5x: — not measured",
        "    ferry-pure ÷ urllib3 ≥ 2.5x: — not measured",
        "    ferry ÷ http.client ≥ 1.1x: — not measured",
        "    ferry-pure ÷ http.client ≥ 1.1x: — not measured",
    ]


@pytest.mark.parametrize(
    ("reply", "counted"),
    [
        ((200, b"Hello, world!"), (1, 0, None)),
        ((200, b"Hello, world"), (0, 1, "status 200, body b'Hello, world'")),
        ((503, b"Hello, world!"), (0, 1, "status 503, body b'Hello, world!'")),
    ],
)
def test_the_load_loop_checks_every_status_and_body(
    reply: tuple[int, bytes], counted: tuple[int, int, str | None]
) -> None:
    tally = client_load.Tally()
    tally.count(reply)
    assert (tally.requests, tally.wrong, tally.problem) == counted


def test_the_load_loop_counts_an_exception_and_keeps_the_first() -> None:
    tally = client_load.Tally()
    tally.fail(ConnectionResetError("reset"))
    tally.fail(TimeoutError("late"))
    assert (tally.errors, tally.problem) == (2, "ConnectionResetError: reset")


class Replies:
    """A fake fetch: right, wrong, then an exception, over and over; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> tuple[int, bytes]:
        self.calls += 1
        if self.calls % 3 == 1:
            return 200, b"Hello, world!"
        if self.calls % 3 == 2:
            return 200, b"Hello, world?"
        raise ConnectionResetError("reset")

    def expected(self) -> tuple[int, int, int]:
        """(right, wrong, errors) after self.calls calls."""
        return (self.calls + 2) // 3, (self.calls + 1) // 3, self.calls // 3


def test_the_blocking_loop_checks_every_response_not_only_the_first() -> None:
    fetch, tally = Replies(), client_load.Tally()
    client_load._blocking_loop(fetch, 0.05, tally)
    assert fetch.calls >= client_load.CHECK_EVERY
    assert (tally.requests, tally.wrong, tally.errors) == fetch.expected()
    assert tally.problem == "status 200, body b'Hello, world?'"


def test_the_async_loop_checks_every_response_of_every_task() -> None:
    replies, tally = Replies(), client_load.Tally()

    async def fetch() -> tuple[int, bytes]:
        await asyncio.sleep(0)  # a turn of the loop, as a real request takes
        return replies()

    asyncio.run(client_load._async_load(fetch, 0.05, tally))
    assert replies.calls >= client_load.CONCURRENCY
    assert (tally.requests, tally.wrong, tally.errors) == replies.expected()


def test_an_nginx_that_does_not_start_voids_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(spec: Any, scratch: Path) -> Any:
        raise client_bench.servers.ServerError("exited with status 1 before listening")

    monkeypatch.setattr(client_bench.servers, "running", refuse)
    results = client_bench.run(Path("unused"), 0, 1, 3)
    assert [r.client for r in results] == [spec.name for spec in client_bench.CLIENTS]
    void = "1 of 1 rounds void: nginx: exited with status 1 before listening"
    assert {(r.requests_per_s, r.void) for r in results} == {(None, void)}


def test_a_counted_run_sends_exactly_the_requests_asked_and_checks_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocking, replies = Replies(), Replies()

    async def fetch() -> tuple[int, bytes]:
        await asyncio.sleep(0)
        return replies()

    async def async_fetcher(name: str, url: str) -> Any:
        async def close() -> None:
            pass

        return fetch, close

    monkeypatch.setattr(client_load, "blocking_fetcher", lambda name, url: (blocking, lambda: None))
    monkeypatch.setattr(client_load, "async_fetcher", async_fetcher)
    tally, _ = client_load.run_count("http.client", "http://127.0.0.1:1/", 100)
    assert (blocking.calls, (tally.requests, tally.wrong, tally.errors)) == (100, (34, 33, 33))
    tally, _ = client_load.run_count("aiohttp", "http://127.0.0.1:1/", 100)
    assert (replies.calls, (tally.requests, tally.wrong, tally.errors)) == (100, (34, 33, 33))
