"""Prometheus metrics (``--metrics-port``), sans-IO: the counts of one process written
into a slot of memory shared with the main process of ``--workers`` (``Recorder``,
``SharedSlots``), and the text exposition of their sum (``render``) that a scrape of
the metrics listener (``ScrapeExchange``) answers. The listeners themselves are the
server's (one process) and the workers' main process's."""

from __future__ import annotations

from ._endpoint import ScrapeExchange
from ._exposition import CONTENT_TYPE, RESTART_REASONS, render
from ._process import ProcessStats, process_stats
from ._recorder import Recorder
from ._slots import SharedSlots, Snapshot

__all__ = [
    "CONTENT_TYPE",
    "RESTART_REASONS",
    "ProcessStats",
    "Recorder",
    "ScrapeExchange",
    "SharedSlots",
    "Snapshot",
    "process_stats",
    "render",
]
