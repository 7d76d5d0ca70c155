"""``--access-log-file`` with ``--workers``: every worker appends to the one file, each
line whole; SIGUSR1 to the main process reopens it there and in each worker."""

from __future__ import annotations

import signal
from pathlib import Path

from ..server.test_access_log_file import request_of, wait_for_file, wait_for_lines
from .test_workers import APPS, served_by, workers


def test_sigusr1_reopens_the_file_in_every_worker(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    with workers(f"{APPS}:pid", "--workers", "2", "--access-log-file", str(log)) as ferry:
        pids = ferry.ready_pids(2)
        served: list[int] = []
        while set(served) != pids and len(served) < 200:  # bounded: the kernel spreads them
            served.append(served_by(ferry, f"/before/{len(served)}"))
        assert set(served) == pids
        assert len(wait_for_lines(log, len(served))) == len(served)
        log.rename(tmp_path / "access.log.1")
        ferry.signal(signal.SIGUSR1)
        wait_for_file(log)  # the main process's reopen
        reopened = {int(ferry.wait_for(r"\[(\d+)\] access log file reopened").group(1))}
        reopened.add(int(ferry.wait_for(r"\[(\d+)\] access log file reopened").group(1)))
        assert reopened == pids
        ferry.wait_for(r"^INFO: access log file reopened: ")  # and the main process's
        after: list[int] = []
        while set(after) != pids and len(after) < 200:
            after.append(served_by(ferry, f"/after/{len(after)}"))
        assert set(after) == pids
        lines = wait_for_lines(log, len(after))
        ferry.signal(signal.SIGTERM)
        assert ferry.finish() == 0
    rotated = (tmp_path / "access.log.1").read_text().splitlines()
    # Each line whole (the format matches it entirely), in the file of its time.
    assert sorted(map(request_of, rotated)) == sorted(
        f"GET /before/{n} HTTP/1.1" for n in range(len(served))
    )
    assert sorted(map(request_of, lines)) == sorted(
        f"GET /after/{n} HTTP/1.1" for n in range(len(after))
    )
