"""``--reload``: which files changed, for the main process to replace its worker.

With ``watchfiles`` installed (``ferry[reload]``), its OS notifications are read in a
thread of their own, which only records paths and writes a byte on a pipe the main
process selects on; it never logs or takes a lock the forked worker could inherit held.
Without it, the main process polls: it walks the directories every ``POLL_INTERVAL``
seconds and compares modification times.

What counts, as uvicorn's ``--reload-include``/``--reload-exclude``: a file whose name
(or path below a watched directory) matches an include pattern (default ``*.py``), and
neither it nor a directory above it (below the watched one) matches an exclude pattern
(default: hidden files and directories, compiled Python, editor swap and backup files).
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.util
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_EXCLUDES", "DEFAULT_INCLUDES", "POLL_INTERVAL", "ChangeWatcher"]

DEFAULT_INCLUDES = ("*.py",)
DEFAULT_EXCLUDES = (".*", "*.py[cod]", ".sw.*", "~*", "*~", "__pycache__")
POLL_INTERVAL = 0.5  # seconds between two walks of the tree, when polling


class ChangeWatcher:
    """Watches ``directories`` (the current one if none); ``fileno()`` becomes readable
    when a notification came, and ``changes(now)`` returns the files changed since its
    last call (polling when no notifications come)."""

    def __init__(
        self,
        directories: Iterable[str] = (),
        includes: Iterable[str] = (),
        excludes: Iterable[str] = (),
        *,
        use_watchfiles: bool = True,
    ) -> None:
        self.directories = [Path(d).resolve() for d in directories] or [Path.cwd()]
        self.includes = tuple(includes) or DEFAULT_INCLUDES
        self.excludes = tuple(excludes) or DEFAULT_EXCLUDES
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._pending: list[str] = []  # appended by the notification thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_poll = 0.0
        self._snapshot: dict[str, float] = {}
        if use_watchfiles and importlib.util.find_spec("watchfiles") is not None:
            self.method = "watchfiles"
            self._thread = threading.Thread(target=self._notifications, daemon=True)
            self._thread.start()
        else:
            self.method = "polling"
            self._snapshot = self._scan()

    def fileno(self) -> int:
        return self._read

    def watches(self, path: str | Path) -> bool:
        """Whether a change of the file at ``path`` counts (see the module's text)."""
        path = Path(path)
        for directory in self.directories:
            try:
                parts = path.relative_to(directory).parts
            except ValueError:
                continue
            relative = "/".join(parts)
            if any(fnmatch.fnmatch(part, p) for part in parts for p in self.excludes):
                return False
            return any(
                fnmatch.fnmatch(parts[-1], p) or fnmatch.fnmatch(relative, p) for p in self.includes
            )
        return False

    def changes(self, now: float) -> list[str]:
        """The files changed since the last call (``now``: time.monotonic())."""
        with contextlib.suppress(BlockingIOError):
            os.read(self._read, 4096)
        if self.method == "watchfiles":
            found, self._pending = self._pending, []
            return sorted(set(found))
        if now < self._next_poll:
            return []
        self._next_poll = now + POLL_INTERVAL
        snapshot = self._scan()
        changed = {p for p, t in snapshot.items() if self._snapshot.get(p) != t}
        changed |= self._snapshot.keys() - snapshot.keys()  # removed
        self._snapshot = snapshot
        return sorted(changed)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _scan(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for path in self._files():
            with contextlib.suppress(OSError):
                found[path] = os.stat(path).st_mtime_ns
        return found

    def _files(self) -> Iterator[str]:
        for directory in self.directories:
            for root, dirs, files in os.walk(directory):
                dirs[:] = [d for d in dirs if not self._excluded(d)]
                for name in files:
                    path = os.path.join(root, name)
                    if self.watches(path):
                        yield path

    def _excluded(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.excludes)

    def _notifications(self) -> None:  # pragma: no cover - runs with watchfiles only
        import watchfiles

        logging.getLogger("watchfiles").setLevel(logging.WARNING)  # no lock taken here
        watched: Any = watchfiles.watch(
            *self.directories,
            watch_filter=lambda change, path: self.watches(path),
            stop_event=self._stop,
            rust_timeout=500,
            yield_on_timeout=True,
        )
        for batch in watched:
            if batch:
                self._pending.extend(path for _, path in batch)
                with contextlib.suppress(BlockingIOError, OSError):
                    os.write(self._write, b"c")
