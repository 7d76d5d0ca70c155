"""The ``process_*`` metrics of a process, read from Linux's ``/proc`` (as the
Prometheus client libraries read them): the main process reads its workers' there, so
that they do nothing for it. Elsewhere than Linux there are none."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

__all__ = ["ProcessStats", "process_stats"]


@dataclass(frozen=True)
class ProcessStats:
    """What ``process_*`` reports of one process."""

    cpu_seconds: float
    resident_bytes: int
    virtual_bytes: int
    open_fds: int
    max_fds: int
    start_time: float  # seconds since the epoch


def process_stats(pid: int) -> ProcessStats | None:
    """``pid``'s figures; None if it is gone, or there is no ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
        open_fds = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/limits", "rb") as file:
            limits = file.read()
    except OSError:
        return None
    # proc(5): the fields after the command (which may hold spaces, in parentheses);
    # utime and stime are fields 14 and 15, starttime 22, vsize 23 and rss 24.
    fields = stat[stat.rindex(b")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return ProcessStats(
        cpu_seconds=(int(fields[11]) + int(fields[12])) / ticks,
        resident_bytes=int(fields[21]) * os.sysconf("SC_PAGE_SIZE"),
        virtual_bytes=int(fields[20]),
        open_fds=open_fds,
        max_fds=_max_open_files(limits),
        start_time=_boot_time() + int(fields[19]) / ticks,
    )


def _max_open_files(limits: bytes) -> int:
    """The soft limit on open files in a ``/proc/PID/limits`` text (0 if unlimited)."""
    for line in limits.splitlines():
        if line.startswith(b"Max open files"):
            soft = line.split()[3]
            return int(soft) if soft.isdigit() else 0
    return 0


@cache
def _boot_time() -> float:
    """When the machine booted, seconds since the epoch (``btime`` in ``/proc/stat``)."""
    with open("/proc/stat", "rb") as file:
        for line in file:
            if line.startswith(b"btime "):
                return float(line.split()[1])
    return 0.0
