"""``--metrics-port`` with ``--workers``: the main process serves the metrics.

It makes the slots (``ferry.metrics.SharedSlots``) before it forks, gives each worker
one, and answers each scrape with the sum over all of them: the live workers' slots as
they are now, plus the retired totals of the workers gone (folded in as each one is
reaped, however it died). It counts the workers' restarts by reason itself, and reads
every process's ``process_*`` figures from ``/proc``. The listener is one more file in
the main process's ``selectors`` loop (no thread, no event loop: forking stays safe);
each scrape is a small non-blocking exchange, bounded in time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import time
from collections.abc import Iterable
from typing import Final

from ..metrics import (
    ProcessStats,
    ScrapeExchange,
    SharedSlots,
    process_stats,
    render,
)
from ..server import Config
from ..server._metrics import SCRAPE_TIMEOUT, log_listening

__all__ = ["MainMetrics"]

logger = logging.getLogger("ferry.error")

_MIN_SLOTS: Final = 16  # slots beyond --workers: replacements overlap, SIGTTIN adds


class MainMetrics:
    """The workers' slots, their restarts by reason, and the metrics listener."""

    def __init__(self, config: Config, selector: selectors.BaseSelector) -> None:
        self.slots = SharedSlots(max(_MIN_SLOTS, 4 * config.workers))
        self.restarts: dict[str, int] = {}
        self.selector = selector
        assert config.metrics_port is not None
        address = (config.metrics_host, config.metrics_port)
        family = socket.AF_INET6 if ":" in config.metrics_host else socket.AF_INET
        self.listener = socket.create_server(address, family=family)
        self.listener.setblocking(False)
        selector.register(self.listener, selectors.EVENT_READ, self)
        self._scrapes: set[_Scrape] = set()
        self.workers: dict[int, int] = {}  # slot -> pid, of the live workers
        log_listening(self.listener.getsockname())

    def fds(self) -> list[int]:
        """The descriptors a forked worker closes (they are the main process's)."""
        return [self.listener.fileno(), *(scrape.sock.fileno() for scrape in self._scrapes)]

    def assign(self) -> int | None:
        """A slot for a worker about to be forked (None: all taken; it goes uncounted)."""
        slot = self.slots.assign()
        if slot is None:
            logger.warning(
                "all %d metrics slots are taken: a worker goes uncounted", self.slots.count
            )
        return slot

    def worker_started(self, slot: int | None, pid: int) -> None:
        if slot is not None:
            self.workers[slot] = pid

    def worker_ended(self, slot: int | None, reason: str | None) -> None:
        """A worker is reaped: its counts join the retired totals; ``reason`` says why
        it was replaced or stopped (None: the server is stopping, or it never started)."""
        if slot is not None:
            self.workers.pop(slot, None)
            self.slots.retire(slot)
        if reason is not None:
            self.restarts[reason] = self.restarts.get(reason, 0) + 1

    def render(self) -> bytes:
        processes: list[tuple[dict[str, str], ProcessStats]] = []
        for label, pid in (("main", os.getpid()), *self._workers()):
            stats = process_stats(pid)
            if stats is not None:
                processes.append(({"worker": label}, stats))
        return render(self.slots.snapshot(), processes, self.restarts)

    def _workers(self) -> Iterable[tuple[str, int]]:
        return ((str(slot), pid) for slot, pid in sorted(self.workers.items()))

    def ready(self, mask: int) -> None:
        """The listener is readable: take the scrapes waiting."""
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # such as EMFILE: the next turn tries again
                return
            sock.setblocking(False)
            scrape = _Scrape(self, sock)
            self._scrapes.add(scrape)
            self.selector.register(sock, selectors.EVENT_READ, scrape)

    def check_deadlines(self, now: float) -> None:
        """Close the scrapes that have taken longer than ``SCRAPE_TIMEOUT``."""
        for scrape in list(self._scrapes):
            if now - scrape.started > SCRAPE_TIMEOUT:
                scrape.close()

    def forget(self, scrape: _Scrape) -> None:
        self._scrapes.discard(scrape)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(scrape.sock)

    def close(self) -> None:
        for scrape in list(self._scrapes):
            scrape.close()
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.listener)
        self.listener.close()
        self.slots.close()


class _Scrape:
    """One connection to the main process's metrics listener."""

    def __init__(self, owner: MainMetrics, sock: socket.socket) -> None:
        self.owner = owner
        self.sock = sock
        self.started = time.monotonic()
        self.exchange = ScrapeExchange(owner.render)
        self.pending = b""

    def ready(self, mask: int) -> None:
        if mask & selectors.EVENT_READ and not self.exchange.done:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.close()
                return
            self.pending += self.exchange.receive_data(data)
        if self.pending:
            self._write()
        elif self.exchange.done:
            self.close()

    def _write(self) -> None:
        try:
            sent = self.sock.send(self.pending)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.close()
            return
        self.pending = self.pending[sent:]
        if not self.pending:
            self.close()
        else:
            self.owner.selector.modify(self.sock, selectors.EVENT_WRITE, self)

    def close(self) -> None:
        self.owner.forget(self)
        self.sock.close()
