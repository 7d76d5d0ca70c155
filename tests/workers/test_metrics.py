"""``--metrics-port`` with ``--workers``: the main process serves the sum over its
workers, real processes each, and keeps a worker's counts when it dies, SIGKILL too
(what it had published: a worker publishes every half second), and all of them when it
stops gracefully; its restarts are counted by reason. The exposition is read by
Prometheus's parser."""

from __future__ import annotations

import os
import signal

from ferry.workers._supervisor import WorkerProcess, _restart_reason

from ..metrics._scrape import Samples, edges, samples_at, samples_when, value
from .test_workers import APPS, Workers, workers

LISTENING = r"Ferry metrics on http://127\.0\.0\.1:(\d+)/metrics"


def served(samples: Samples) -> float:
    return value(samples, "ferry_requests_total", method="GET", status="200")


def answered_by(ferry: Workers) -> int:
    status, body = ferry.get()
    assert status == 200
    return int(body)


def test_the_sum_over_workers_kept_when_one_is_killed() -> None:
    args = ("--workers", "2", "--metrics-port", "0", "--no-access-log")
    with workers(f"{APPS}:pid", *args) as ferry:
        port = int(ferry.wait_for(LISTENING).group(1))
        pids = ferry.ready_pids(2)
        by_pid: dict[int, int] = {}
        while len(by_pid) < 2 and sum(by_pid.values()) < 500:  # until both have served
            pid = answered_by(ferry)
            by_pid[pid] = by_pid.get(pid, 0) + 1
        assert set(by_pid) == pids
        sent = sum(by_pid.values())
        samples = samples_when(port, lambda samples: served(samples) == sent)
        assert served(samples) == sent
        assert value(samples, "ferry_connections_total") == sent  # one request each
        assert value(samples, "ferry_keepalive_reuses_total") == 0
        assert value(samples, "ferry_response_bytes_total") == sum(
            len(str(pid)) * count for pid, count in by_pid.items()
        )
        for worker in ("main", "0", "1"):
            assert value(samples, "process_resident_memory_bytes", worker=worker) > 0
        assert ("ferry_event_loop_lag_seconds", (("worker", "1"),)) in samples
        assert value(samples, "ferry_worker_restarts_total", reason="killed") == 0
        edges(port)

        victim = max(pids)
        os.kill(victim, signal.SIGKILL)
        ferry.wait_for(rf"worker {victim} died \(killed by SIGKILL\)")
        [replacement] = ferry.ready_pids(1)
        more = 0
        while more < 6:
            assert answered_by(ferry) in (pids - {victim}) | {replacement}
            more += 1
        samples = samples_when(port, lambda samples: served(samples) == sent + more)
        assert served(samples) == sent + more  # the dead worker's counts are kept
        assert value(samples, "ferry_connections_total") == sent + more
        assert value(samples, "ferry_worker_restarts_total", reason="killed") == 1
        workers_seen = {
            labels for (name, labels) in samples if name == "process_resident_memory_bytes"
        }
        assert len(workers_seen) == 3  # main and two live workers: the dead one is gone


def test_restarts_by_reason() -> None:
    args = ("--workers", "2", "--metrics-port", "0", "--no-access-log")
    with workers(f"{APPS}:pid", *args) as ferry:
        port = int(ferry.wait_for(LISTENING).group(1))
        ferry.ready_pids(2)
        for _ in range(5):
            answered_by(ferry)
        ferry.signal(signal.SIGHUP)
        ferry.ready_pids(2)
        for _ in range(2):
            ferry.wait_for(r"worker (\d+) stopped \(exit status 0\)")
        samples = samples_at(port)  # no wait: a worker publishes all it counted as it stops
        assert value(samples, "ferry_worker_restarts_total", reason="reload") == 2
        assert served(samples) == 5
        assert value(samples, "ferry_connections_total") == 5
        ferry.signal(signal.SIGTTIN)
        ferry.ready_pids(1)
        ferry.signal(signal.SIGTTOU)
        ferry.wait_for(r"worker (\d+) stopped \(exit status 0\)")
        samples = samples_at(port)
        assert value(samples, "ferry_worker_restarts_total", reason="ttou") == 1
        assert value(samples, "ferry_worker_restarts_total", reason="reload") == 2
        for reason in ("crash", "killed", "timeout", "max_requests"):
            assert value(samples, "ferry_worker_restarts_total", reason=reason) == 0


def test_max_requests_counted_as_a_restart() -> None:
    args = ("--workers", "2", "--max-requests", "2", "--metrics-port", "0", "--no-access-log")
    with workers(f"{APPS}:pid", *args) as ferry:
        port = int(ferry.wait_for(LISTENING).group(1))
        ferry.ready_pids(2)
        for _ in range(3):  # two workers, three requests: one of them has served two
            answered_by(ferry)
        ferry.wait_for(r"served its max_requests: to be replaced")
        ferry.wait_for(r"worker (\d+) stopped \(exit status 0\)")
        samples = samples_when(port, lambda samples: served(samples) == 3)
        assert value(samples, "ferry_worker_restarts_total", reason="max_requests") >= 1
        assert value(samples, "ferry_worker_restarts_total", reason="reload") == 0
        assert served(samples) == 3


def test_the_reason_of_each_end() -> None:
    def ended(status: int, **state: object) -> str | None:
        worker = WorkerProcess(pid=1, pipe=-1, started=0.0, ready=True)
        for name, setting in state.items():
            setattr(worker, name, setting)
        return _restart_reason(worker, status)

    exited_1, killed_9 = 1 << 8, signal.SIGKILL
    assert ended(exited_1) == "crash"
    assert ended(killed_9) == "killed"
    assert ended(killed_9, killed=True) == "timeout"  # the watchdog's
    assert ended(0, stopping=True, stop_reason="reload") == "reload"
    assert ended(0, stopping=True) is None  # the server stops
    assert ended(exited_1, ready=False) is None  # it never started: not a restart
