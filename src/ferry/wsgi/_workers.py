"""``Workers``: the bounded thread pool WSGI applications run in.

Lighter than ``concurrent.futures.ThreadPoolExecutor`` for this one use: a job is a
plain callable that hands its own result back to the event loop, so there is no Future
per job, no done-callback chain and no ``wrap_future`` on the way back.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

__all__ = ["Workers"]

Job = Callable[[], None]


class Workers:
    """Up to ``size`` daemon threads, started as jobs need them, running the jobs of one
    queue in order. A job must not raise (the WSGI exchange reports its own errors).

    ``stop()`` lets each thread finish the job it runs and end; jobs submitted after it
    raise RuntimeError.
    """

    def __init__(self, size: int, name: str = "ferry-wsgi") -> None:
        self.size = size
        self.name = name
        self.threads: list[threading.Thread] = []
        self.stopped = False
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        # Released by a thread each time it is about to wait for a job: acquiring it
        # without blocking says an idle thread will take the next one.
        self._idle = threading.Semaphore(0)

    def submit(self, job: Job) -> None:
        """Queue ``job``; start a thread for it if none is idle and the limit allows."""
        if self.stopped:
            raise RuntimeError("the WSGI thread pool is stopped")
        self._jobs.put(job)
        if not self._idle.acquire(blocking=False) and len(self.threads) < self.size:
            thread = threading.Thread(
                target=self._work, name=f"{self.name}-{len(self.threads)}", daemon=True
            )
            self.threads.append(thread)
            thread.start()

    def _work(self) -> None:
        jobs = self._jobs
        idle = self._idle
        while (job := jobs.get()) is not None:
            job()
            del job  # drop the finished request before waiting for the next
            idle.release()

    def stop(self) -> None:
        """End every thread once its current job is done (none is interrupted)."""
        self.stopped = True
        for _ in self.threads:
            self._jobs.put(None)
