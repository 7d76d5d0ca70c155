"""The main process of ``ferry serve --workers N``: it binds the sockets once, forks N
workers that serve on them (``_worker``), and keeps N running.

It imports no application (unless ``--preload``), so that a SIGHUP's new workers import
the code as it now is. It runs no event loop and no thread, so that forking it is safe:
one ``selectors`` loop reads the workers' pipes and the signals' wake-up pipe.

Signals, as gunicorn and uvicorn: SIGTERM and SIGINT stop gracefully (each worker drains
as a single process does; a second SIGINT kills them); SIGHUP replaces the workers one at
a time, each new one ready before an old one is stopped; SIGTTIN and SIGTTOU add and
remove a worker; SIGUSR1 reopens the access log file, here and in each worker. How a
worker's end is read:

* it exits before it is ready (its import or its lifespan startup failed): at start, or
  in place of a dead worker, the main process stops and exits with the worker's status,
  as a single process would have; during a SIGHUP the old workers are kept;
* it dies once ready (a crash, SIGKILL, the OOM killer): logged with its status or
  signal, and replaced at once, or after a growing pause when workers keep dying soon
  after starting;
* its loop stops turning (no beat for ``worker_timeout``): its stacks are logged
  (SIGUSR2), then it is killed and replaced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..asgi._types import ASGIApp
from ..server import Config
from ..server._access_log import reopen_access_files
from ..server._backlog import (
    HANDSHAKE_POLL,
    HANDSHAKE_WAIT,
    handshakes_in_flight,
    release,
    seal,
)
from ..server._loader import adapt_app, import_app
from ..server._logging import configure_logging
from ..server._sockets import bind_sockets
from ..server._tls import server_context
from ._metrics import MainMetrics
from ._reload import ChangeWatcher
from ._worker import DUMP_SIGNAL, RETIRE_SIGNAL, Message, run_worker

__all__ = ["Supervisor"]

logger = logging.getLogger("ferry.error")

_TICK = 0.1  # seconds between looks at the clock (watchdog, pauses, deadlines)
_DUMP_GRACE = 1.0  # seconds a stuck worker gets to write its stacks before it is killed
_KILL_GRACE = 5.0  # seconds past graceful_timeout before stopping workers are killed
_QUICK_DEATH = 5.0  # a worker dying this soon after it was ready counts as dying young
_MAX_PAUSE = 10.0  # the longest pause before replacing workers that keep dying young


@dataclass(eq=False)
class WorkerProcess:
    """What the main process knows of one worker."""

    pid: int
    pipe: int  # the read end of its pipe
    started: float  # time.monotonic() when it was forked
    ready: bool = False
    last_beat: float = 0.0
    stopping: bool = False  # sent SIGTERM: its end is expected
    stuck_since: float = 0.0  # when its stacks were asked for (0: not stuck)
    replaces: WorkerProcess | None = None  # the old worker it is to take the place of
    killed: bool = False  # by the watchdog
    slot: int | None = None  # its slot of metrics (--metrics-port)
    replace_reason: str = ""  # why it is queued for replacement (ferry_worker_restarts_total)
    stop_reason: str = ""  # why it was stopped while the server serves on


class Supervisor:
    """Runs ``config.workers`` workers until told to stop; ``run()`` returns the exit
    status of the ``ferry serve`` process. ``reload_config`` gives the configuration a
    SIGHUP's new workers get (the command line, environment and files read again)."""

    def __init__(
        self,
        config: Config,
        reload_config: Callable[[], Config] | None = None,
        watcher: ChangeWatcher | None = None,
    ) -> None:
        self.config = config
        self.reload_config = reload_config
        self.watcher = watcher  # --reload: replace the worker when files change
        self.waiting_for_change = False  # --reload: the worker failed to start
        self.workers: dict[int, WorkerProcess] = {}
        self.target = config.workers
        self.sockets: list[socket.socket] = []
        self.app: ASGIApp | None = None
        self.selector = selectors.DefaultSelector()
        self.signals: deque[int] = deque()
        self.stopping = False
        self.stop_deadline = 0.0
        self.exit_status = 0
        self.booting = True  # until the first workers are all ready
        self.reload_queue: deque[WorkerProcess] = deque()  # old workers SIGHUP replaces
        self.young_deaths = 0
        self.pause_until = 0.0
        self._wake: tuple[int, int] = (-1, -1)  # the signals' wake-up pipe
        self.seal_at = 0.0  # stopping with --shutdown-delay: when to seal the sockets
        self.activated = False
        self.metrics: MainMetrics | None = None  # --metrics-port

    # -- the life of the main process ---------------------------------------------------

    def run(self) -> int:
        """Bind, start the workers, supervise them until stopped; the exit status."""
        configure_logging(self.config.log_level, self.config.access_log_file)
        self.activated = "LISTEN_FDS" in os.environ  # systemd's sockets outlive us
        self.sockets = bind_sockets(self.config)
        self._announce()
        if self.config.metrics_port is not None:
            self.metrics = MainMetrics(self.config, self.selector)
        if self.config.preload:
            self.app = adapt_app(self._import(), self.config.interface, self.config.threads)
        wake_read, wake_write = self._wake = os.pipe()
        os.set_blocking(wake_write, False)
        old_wakeup = signal.set_wakeup_fd(wake_write)
        self._install_signals()
        self.selector.register(wake_read, selectors.EVENT_READ, None)
        if self.watcher is not None:
            self.selector.register(self.watcher.fileno(), selectors.EVENT_READ, "watch")
        try:
            for _ in range(self.target):
                self._spawn()
            while self.workers or not self.stopping:
                self._turn()
        finally:
            if self.watcher is not None:
                self.watcher.close()
            if self.metrics is not None:
                self.metrics.close()
            signal.set_wakeup_fd(old_wakeup)
            for fd in (wake_read, wake_write):
                os.close(fd)
            outlive = self.config.fd is not None or self.activated
            for sock in self.sockets:
                if outlive:
                    release(sock)  # its next owner must not find it sealed
                sock.close()
            if self.config.uds is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self.config.uds)
        logger.info("Ferry main process %d: stopped", os.getpid())
        return self.exit_status

    def _import(self) -> object:
        config = self.config
        return import_app(
            config.app, factory=config.factory, static=config.static, app_dir=config.app_dir
        )

    def _announce(self) -> None:
        for sock in self.sockets:
            name = sock.getsockname()
            if isinstance(name, tuple):
                host = f"[{name[0]}]" if ":" in name[0] else name[0]
                scheme = "http" if self.config.ssl_certfile is None else "https"
                where = f"{scheme}://{host}:{name[1]}"
            else:
                where = f"unix:{name}"
            if self.watcher is not None:
                how = f"reloading on changes ({self.watcher.method})"
            else:
                how = f"with {self.target} workers"
            logger.info(
                "Ferry serving on %s %s (main process %d; Ctrl+C to stop)",
                where,
                how,
                os.getpid(),
            )

    def _install_signals(self) -> None:
        def remember(signum: int, frame: object) -> None:
            self.signals.append(signum)

        for signum in (
            signal.SIGTERM,
            signal.SIGINT,
            signal.SIGHUP,
            signal.SIGTTIN,
            signal.SIGTTOU,
            signal.SIGCHLD,
            signal.SIGUSR1,
        ):
            signal.signal(signum, remember)

    def _turn(self) -> None:
        """One turn: read what came, act on signals and ended workers, watch the clock."""
        for key, mask in self.selector.select(_TICK):
            if key.data is None:
                with contextlib.suppress(BlockingIOError):
                    os.read(key.fd, 512)  # signal numbers: self.signals has them
            elif key.data == "watch":
                pass  # read by _watch_files
            elif isinstance(key.data, WorkerProcess):
                self._read_pipe(key.data)
            else:
                key.data.ready(mask)  # the metrics listener, or one of its scrapes
        while self.signals:
            self._on_signal(self.signals.popleft())
        self._reap()
        now = time.monotonic()
        self._watch(now)
        if self.metrics is not None:
            self.metrics.check_deadlines(now)
        if self.watcher is not None and not self.stopping:
            self._watch_files(now)
        if self.stopping and self.seal_at and now >= self.seal_at:
            self.seal_at = 0.0
            self._seal()
            for worker in self.workers.values():  # the second SIGTERM: the delay is over
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGTERM)
        if self.stopping:
            if now > self.stop_deadline:
                self._kill_all("did not stop within the graceful timeout")
        else:
            self._keep_count(now)

    # -- signals ------------------------------------------------------------------------

    def _on_signal(self, signum: int) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            if self.stopping and signum == signal.SIGINT:
                self._kill_all("a second SIGINT")
                return
            if self.stopping:  # a second SIGTERM: on to the workers (ends their delay)
                if self.seal_at:
                    self.seal_at = 0.0
                    self._seal()
                for worker in self.workers.values():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(worker.pid, signal.SIGTERM)
                return
            self._stop(f"{signal.Signals(signum).name}: stopping gracefully")
        elif signum == signal.SIGHUP and not self.stopping:
            self._reload("SIGHUP")
        elif signum == signal.SIGUSR1:
            self._reopen_logs()
        elif signum == signal.SIGTTIN and not self.stopping:
            self.target += 1
            logger.info("SIGTTIN: %d workers", self.target)
        elif signum == signal.SIGTTOU and not self.stopping and self.target > 1:
            self.target -= 1
            logger.info("SIGTTOU: %d workers", self.target)
            self._stop_extra()

    def _reopen_logs(self) -> None:
        """SIGUSR1: the access log file was rotated. Workers forked from now on inherit
        the reopened file; each running worker reopens its own (it reopens once more
        when it is ready, for a SIGUSR1 that came while it was starting)."""
        reopen_access_files()
        for worker in self.workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGUSR1)

    def _stop(self, reason: str, status: int = 0) -> None:
        """Stop the whole server: each worker drains (SIGTERM). The accept queue is
        sealed first (see ``_seal``), or, with --shutdown-delay, once the delay is over
        (the workers then get a second SIGTERM), so that no queued connection is reset."""
        if not self.stopping:
            logger.info("%s", reason)
            self.stopping = True
            self.exit_status = status
            config = self.config
            patience = config.shutdown_delay + config.graceful_timeout + _KILL_GRACE
            self.stop_deadline = time.monotonic() + patience
            self.reload_queue.clear()
            if config.shutdown_delay > 0:
                self.seal_at = time.monotonic() + config.shutdown_delay
            else:
                self._seal()
        for worker in list(self.workers.values()):
            self._terminate(worker)

    def _seal(self) -> None:
        """Stop new connections from completing on the sockets, and wait (bounded) for
        the handshakes already answered: from then on the workers' queue can only empty
        (``server/_backlog.py``; the workers accept what is queued before they close)."""
        uds = self.config.uds
        sealed = [sock for sock in self.sockets if seal(sock, uds)]
        deadline = time.monotonic() + HANDSHAKE_WAIT
        while time.monotonic() < deadline and any(map(handshakes_in_flight, sealed)):
            time.sleep(HANDSHAKE_POLL)  # the kernel tells of no handshake's end

    def _kill_all(self, reason: str) -> None:
        if self.workers:
            logger.warning("%s: killing %d workers", reason, len(self.workers))
        for worker in self.workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
        self.stop_deadline = float("inf")

    def _watch_files(self, now: float) -> None:
        assert self.watcher is not None
        changed = self.watcher.changes(now)
        if not changed:
            return
        shown = ", ".join(os.path.relpath(path) for path in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        logger.info("changes in %s%s", shown, more)
        self.waiting_for_change = False
        self._reload("--reload")

    def _reload(self, cause: str = "SIGHUP") -> None:
        """SIGHUP: a new worker for each running one, one at a time (see _keep_count)."""
        if self.reload_config is not None:
            try:
                config = self.reload_config()
                if config.ssl_certfile is not None:
                    server_context(config)  # a bad certificate must not stop the workers
                self.config = config
            except Exception as exc:  # a wrong config file: keep the running workers
                logger.error("%s: the configuration is wrong, nothing restarted: %s", cause, exc)
                return
        old = [w for w in self.workers.values() if w.ready and not w.stopping]
        for worker in old:
            worker.replace_reason = "reload"
        plural = "s, one at a time" if len(old) != 1 else ""
        logger.info("%s: replacing %d worker%s", cause, len(old), plural)
        self.reload_queue = deque(old)

    # -- workers ------------------------------------------------------------------------

    def _spawn(self, replaces: WorkerProcess | None = None) -> WorkerProcess:
        read, write = os.pipe()
        metrics = self.metrics
        slot = metrics.assign() if metrics is not None else None
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is not collected
            self.selector.close()
            watching = (self.watcher.fileno(),) if self.watcher is not None else ()
            listening = metrics.fds() if metrics is not None else ()
            for fd in (read, *self._wake, *watching, *listening):
                os.close(fd)
            for other in self.workers.values():
                os.close(other.pipe)
            counts = metrics.slots.slot(slot) if metrics is not None and slot is not None else None
            run_worker(self.config, self.sockets, write, self.app, counts)
        os.close(write)
        os.set_blocking(read, False)
        now = time.monotonic()
        worker = WorkerProcess(pid, read, started=now, last_beat=now, replaces=replaces)
        worker.slot = slot
        if metrics is not None:
            metrics.worker_started(slot, pid)
        self.workers[pid] = worker
        self.selector.register(read, selectors.EVENT_READ, worker)
        logger.debug("worker %d started", pid)
        return worker

    def _terminate(self, worker: WorkerProcess, *, retire: str = "") -> None:
        """Stop a worker gracefully: SIGTERM when the server stops, SIGQUIT when it is
        replaced while the others serve on (no --shutdown-delay, nothing to seal):
        ``retire`` then says why (``ferry_worker_restarts_total``'s reason)."""
        if not worker.stopping:
            worker.stopping = True
            worker.stop_reason = retire
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, RETIRE_SIGNAL if retire else signal.SIGTERM)

    def _read_pipe(self, worker: WorkerProcess) -> None:
        try:
            data = os.read(worker.pipe, 4096)
        except BlockingIOError:
            return
        if not data:
            self.selector.unregister(worker.pipe)  # its end: _reap will see it
            return
        now = time.monotonic()
        worker.last_beat = now
        worker.stuck_since = 0.0
        if Message.READY.value in data and not worker.ready:
            self._on_ready(worker)
        if Message.RECYCLE.value in data and not worker.stopping and not self.stopping:
            worker.replace_reason = "max_requests"
            self.reload_queue.append(worker)

    def _on_ready(self, worker: WorkerProcess) -> None:
        worker.ready = True
        logger.info("worker %d ready", worker.pid)
        old = worker.replaces
        if old is not None and old.pid in self.workers:
            # The new one serves: the old one drains.
            self._terminate(old, retire=old.replace_reason or "reload")
        if self.booting and all(w.ready for w in self.workers.values()):
            self.booting = False

    def _reap(self) -> None:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is not None:
                self._ended(worker, status)

    def _ended(self, worker: WorkerProcess, status: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(worker.pipe)
        os.close(worker.pipe)
        if worker in self.reload_queue:
            self.reload_queue.remove(worker)
        if self.metrics is not None:
            self.metrics.worker_ended(worker.slot, _restart_reason(worker, status))
        how = _describe(status)
        if worker.stopping:
            logger.info("worker %d stopped (%s)", worker.pid, how)
            return
        if not worker.ready:
            self._failed_start(worker, status, how)
            return
        logger.error("worker %d died (%s)", worker.pid, how)
        if time.monotonic() - worker.started >= _QUICK_DEATH:
            self.young_deaths = 0
            return
        self.young_deaths += 1
        if self.young_deaths > 1:  # one death is replaced at once; a run of them waits
            pause = min(_MAX_PAUSE, 0.1 * 2**self.young_deaths)
            self.pause_until = time.monotonic() + pause
            logger.warning("workers keep dying soon after starting: next in %.1f s", pause)

    def _failed_start(self, worker: WorkerProcess, status: int, how: str) -> None:
        code = os.waitstatus_to_exitcode(status)
        if self.watcher is not None:
            kept = " (the running one is kept)" if worker.replaces is not None else ""
            logger.error("the worker failed to start (%s)%s: waiting for a change", how, kept)
            self.waiting_for_change = worker.replaces is None
            self.reload_queue.clear()
            self.booting = False
            return
        if worker.replaces is not None and not self.booting:
            logger.error("a new worker failed to start (%s): the running workers are kept", how)
            self.reload_queue.clear()
            return
        self._stop(
            f"worker {worker.pid} failed to start ({how}): stopping", code if code > 0 else 1
        )

    def _keep_count(self, now: float) -> None:
        """Start workers until ``target`` run (once a pause has passed), and go on with
        a replacement under way: one new worker at a time, ready before the old stops."""
        if now < self.pause_until or self.waiting_for_change:
            return
        if any(w.replaces is not None and not w.ready for w in self.workers.values()):
            return  # a replacement is starting: one at a time
        if self.reload_queue:
            old = self.reload_queue.popleft()
            if old.pid in self.workers and not old.stopping:
                self._spawn(replaces=old)
            return
        running = [w for w in self.workers.values() if not w.stopping]
        for _ in range(self.target - len(running)):
            self._spawn()

    def _stop_extra(self) -> None:
        running = [w for w in self.workers.values() if not w.stopping]
        for worker in sorted(running, key=lambda w: w.started, reverse=True)[
            : max(0, len(running) - self.target)
        ]:
            self._terminate(worker, retire="ttou")

    def _watch(self, now: float) -> None:
        """The watchdog: a ready worker without a beat for worker_timeout is stuck."""
        timeout = self.config.worker_timeout
        if not timeout or self.watcher is not None:
            return  # --reload: a debugger's breakpoint stops the loop, on purpose
        for worker in list(self.workers.values()):
            if not worker.ready or worker.killed:
                continue
            if worker.stuck_since and now - worker.stuck_since > _DUMP_GRACE:
                logger.critical(
                    "worker %d did not turn its event loop for %.0f s: killed (its stacks "
                    "are above)",
                    worker.pid,
                    now - worker.last_beat,
                )
                worker.killed = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)
            elif not worker.stuck_since and now - worker.last_beat > timeout:
                logger.critical(
                    "worker %d: no beat for %.0f s (--worker-timeout): its stacks follow",
                    worker.pid,
                    now - worker.last_beat,
                )
                worker.stuck_since = now
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, DUMP_SIGNAL)


def _restart_reason(worker: WorkerProcess, status: int) -> str | None:
    """Why ``worker`` ended, as ferry_worker_restarts_total counts it; None when the
    server is stopping, or the worker never became ready."""
    if worker.stopping:
        return worker.stop_reason or None
    if not worker.ready:
        return None
    if worker.killed:
        return "timeout"  # the watchdog's SIGKILL
    return "killed" if os.WIFSIGNALED(status) else "crash"


def _describe(status: int) -> str:
    """A wait status as words: "exit status 1", "killed by SIGKILL"."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"killed by {name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
