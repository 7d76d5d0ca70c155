"""The benchmark's rounds (bench/report.py): which round stands for a server, and the
note that says how far apart its rounds were. The harness imports its modules by their
flat names, so bench/ goes on the path here as it does when bench/run.py runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import report
from loadgen import LoadResult


def outcome(rate: float, *, errors: int = 0, scenario: str = "hello") -> Any:
    load = LoadResult(rate, rate * 2**20, 1.0, int(rate), errors, 0, "wrk")
    return report.Outcome(scenario, "ferry", "ferry serve", load=load)


@pytest.mark.parametrize(
    ("rates", "median"),
    [
        ([3.0, 1.0, 2.0], 2.0),
        ([5.0, 1.0, 4.0, 2.0, 3.0], 3.0),
        ([4.0, 1.0, 3.0, 2.0], 2.0),  # an even count: the lower middle one
        ([7.0, 7.0, 1.0], 7.0),
    ],
)
def test_the_median_round_stands_for_the_server(rates: list[float], median: float) -> None:
    chosen = report.median_outcome([outcome(rate) for rate in rates])
    assert chosen.load.requests_per_s == median
    assert chosen.rounds == tuple(rates)  # every round kept, in the order run


def test_a_round_with_errors_stands_for_them_all() -> None:
    chosen = report.median_outcome([outcome(3.0), outcome(9.0, errors=2), outcome(1.0)])
    assert chosen.load.requests_per_s == 9.0
    assert report.clean_throughput(chosen) is None  # no ratio, no target met from it
    row = report._load_row(chosen, None, None)
    assert row[-1] == "2 socket errors, 1 of 3 rounds not clean"


def test_one_round_is_the_outcome_itself() -> None:
    single = outcome(5.0)
    assert report.median_outcome([single]) is single


def test_the_note_gives_the_spread_in_the_scenario_s_metric() -> None:
    chosen = report.median_outcome([outcome(rate) for rate in (61_000.0, 70_402.0, 93_316.0)])
    assert report._rounds_note(chosen) == "median of 3 (61,000 to 93,316 req/s)"
    large = [outcome(rate, scenario="static-large") for rate in (4_321.0, 5_208.0, 5_724.0)]
    note = report._rounds_note(report.median_outcome(large))
    assert note == "median of 3 (4,321 to 5,724 MiB/s)"
