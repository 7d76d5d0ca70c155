"""The one configuration object. The CLI, the ``FERRY_*`` environment variables and the
keys of a config file are generated from its fields (see ``ferry._cli`` and
``_config_file``); nothing here is written out twice.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from .._errors import ConfigError
from ..http1 import Limits, ResponseSettings
from ..http1._abnf import FIELD_VALUE_CLASS
from ..proxy import TrustedPeers
from ._access_log import check_format

__all__ = ["Config", "option"]

# The engine's field-value class (RFC 9110 §5.5), for text: the server header is a str.
_FIELD_VALUE = re.compile("[" + FIELD_VALUE_CLASS.decode("latin-1") + "]*")


@functools.cache
def _choices() -> dict[str, tuple[str, ...]]:
    """The fields typed as a Literal, with their allowed values (checked at construction,
    so ``serve(app, lifespan="yes")`` fails as clearly as the CLI does)."""
    hints = typing.get_type_hints(Config)
    return {
        name: typing.get_args(hint)
        for name, hint in hints.items()
        if typing.get_origin(hint) is typing.Literal
    }


def option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    group: str = "server",
    aliases: tuple[str, ...] = (),
    switches: dict[str, Any] | None = None,
    env: tuple[str, ...] = (),
) -> Any:
    """A Config field with its help text; ``flag`` overrides the generated CLI flag.

    ``aliases``: other flags for the same field, taking the same value (uvicorn's names,
    where they mean what Ferry's flag means). ``switches``: flags that take no value and
    set the field to the value they map to (uvicorn's ``--no-server-header``: "").
    ``env``: environment variables read when ``FERRY_<NAME>`` is not set, in this order
    (``WEB_CONCURRENCY``, as uvicorn and gunicorn read it).
    """
    metadata = {
        "help": help,
        "flag": flag,
        "group": group,
        "aliases": aliases,
        "switches": switches or {},
        "env": env,
    }
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, slots=True)
class Config:
    """Everything ``ferry serve`` can be told. Every field is a CLI flag and FERRY_ variable."""

    app: str = option(
        "", "application target, module:attribute, or a directory to serve", flag="", group="app"
    )
    factory: bool = option(False, "the target is a callable that returns the app", group="app")
    root_path: str = option("", "ASGI root_path: the prefix the app is mounted at", group="app")
    lifespan: Literal["auto", "on", "off"] = option(
        "auto", "run the ASGI lifespan protocol", group="app"
    )
    interface: Literal["auto", "asgi3", "asgi2", "wsgi"] = option(
        "auto", "application interface: auto detects it from the app's signature", group="app"
    )
    threads: int = option(10, "threads running WSGI requests (one request each)", group="app")
    static: bool = option(
        False,
        "serve a directory TARGET (or the current directory) as files even if it holds "
        "Python code (a package, or .py files at its top), which is refused otherwise: "
        "its source would be published",
        group="app",
    )
    app_dir: str = option(
        "", "directory put first on sys.path before the app is imported", group="app"
    )
    env_file: str | None = option(
        None,
        "a .env file (KEY=VALUE lines) loaded into the environment first: the app sees "
        "its variables, and its FERRY_* variables set option defaults; variables already "
        "set are kept",
        group="app",
    )
    config: str | None = option(
        None,
        "a TOML file of options, keyed by these options' names (max_body_size = 1024); "
        "[tool.ferry] of ./pyproject.toml is read too, below it. The environment and the "
        "command line win over both",
        group="app",
    )

    host: str = option("127.0.0.1", "address to listen on", group="socket")
    port: int = option(8000, "TCP port to listen on (0: any free port)", group="socket")
    uds: str | None = option(None, "listen on this UNIX domain socket instead", group="socket")
    fd: int | None = option(
        None, "serve on this already-bound socket file descriptor", group="socket"
    )
    backlog: int = option(2048, "listen backlog", group="socket")

    proxy_headers: bool = option(
        True,
        "take the client's address and scheme from Forwarded or X-Forwarded-For/-Proto, "
        "when the connection comes from --forwarded-allow-ips",
        group="proxy",
    )
    forwarded_allow_ips: str = option(
        "127.0.0.1",
        "peers whose proxy headers are believed: IP addresses, CIDR networks, '*' (any), "
        "'unix' (a UNIX-socket peer), comma-separated",
        group="proxy",
        env=("FORWARDED_ALLOW_IPS",),
    )
    ready_path: str | None = option(
        None,
        "a path Ferry answers itself, never the app: 200 while serving, 503 from the moment "
        "it drains (for readiness probes and balancers' health checks; e.g. /readyz)",
        group="proxy",
    )
    proxy_protocol: bool = option(
        False,
        "each connection opens with a PROXY protocol header (v1 or v2, as HAProxy's "
        "send-proxy and cloud network balancers send it), from --forwarded-allow-ips only",
        group="proxy",
    )

    loop: Literal["auto", "asyncio", "uvloop"] = option(
        "auto", "event loop: auto uses uvloop when it is installed"
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = option(
        "info", "log level"
    )
    access_log: bool = option(True, "log each request in combined format with its duration")
    server_header: str = option(
        "ferry",
        "value of the Server header field ('' for none)",
        switches={"--no-server-header": ""},
    )
    ws: Literal["auto", "websockets", "none"] = option(
        "auto",
        "WebSocket: auto (when the websockets package is installed), websockets (require "
        "it), none (an Upgrade request is served as plain HTTP)",
    )
    http: Literal["auto", "h11", "httptools"] = option(
        "auto",
        "accepted for uvicorn's command lines, and ignored: Ferry always uses its own "
        "HTTP/1.1 engine",
    )
    gc_tuning: bool = option(
        True,
        "when Ferry runs the process: after startup, freeze the startup heap out of the "
        "garbage collector's reach and collect the young generation less often",
    )
    task_per_request: bool = option(
        False,
        "run each request's app in an asyncio task of its own, instead of letting one "
        "task run, one after another, the apps of requests that arrive together",
    )

    workers: int = option(
        1,
        "worker processes, each a server on the same sockets, under a main process that "
        "restarts them (1: one process, no main process)",
        group="workers",
        env=("WEB_CONCURRENCY",),
    )
    preload: bool = option(
        False,
        "import the application once in the main process, before the workers are forked "
        "(memory shared copy-on-write; SIGHUP then restarts workers with the same code)",
        group="workers",
    )
    max_requests: int | None = option(
        None,
        "requests a worker serves before it is replaced, gracefully (none: no limit)",
        group="workers",
        aliases=("--limit-max-requests",),
    )
    max_requests_jitter: int = option(
        0,
        "a random number of requests from 0 to this added to each worker's max_requests, "
        "so that workers are not all replaced at once",
        group="workers",
    )
    worker_timeout: float = option(
        30.0,
        "seconds a worker's event loop may go without turning before the main process "
        "logs every thread's stack and the requests in flight, then kills and replaces it "
        "(0: never)",
        group="workers",
    )

    reload: bool = option(
        False,
        "restart the server when a watched file changes, for development (one worker; "
        "an edit that breaks the import is logged and waits for the next edit)",
        group="workers",
    )
    reload_dir: tuple[str, ...] = option(
        (), "a directory --reload watches (repeatable; default: the current one)", group="workers"
    )
    reload_include: tuple[str, ...] = option(
        (), "a glob of files --reload watches (repeatable; default: *.py)", group="workers"
    )
    reload_exclude: tuple[str, ...] = option(
        (),
        "a glob of files and directories --reload ignores (repeatable; default: hidden "
        "ones, *.py[cod], editor swap and backup files)",
        group="workers",
    )

    max_connections: int = option(
        10000,
        "concurrent connections; more are answered 503 and closed",
        group="limits",
        aliases=("--limit-concurrency",),
    )
    max_requests_per_connection: int | None = option(
        10000, "requests on one connection before it is closed", group="limits"
    )
    max_request_line: int = option(8190, "bytes in the request line (414)", group="limits")
    max_head_size: int = option(65536, "bytes in a request head (431)", group="limits")
    max_header_count: int = option(100, "header fields in a request (431)", group="limits")
    max_body_size: int | None = option(
        1 << 30, "bytes in a request body (413); none: unlimited", group="limits"
    )
    max_chunk_line: int = option(
        4096, "bytes in a chunk-size line with its extensions (400)", group="limits"
    )
    max_trailer_size: int = option(
        16384, "bytes in a chunked request's trailer section (431)", group="limits"
    )
    max_drain: int = option(
        65536, "unread request body bytes skipped to keep a connection", group="limits"
    )
    max_pipeline_buffer: int = option(
        65536, "bytes buffered ahead of the request in flight", group="limits"
    )
    ws_max_size: int = option(
        16 * 1024 * 1024, "bytes in one received WebSocket message (close 1009)", group="limits"
    )

    head_timeout: float = option(
        10.0, "seconds to receive a whole request head (408)", group="timeouts"
    )
    keep_alive_timeout: float = option(
        5.0,
        "seconds an idle keep-alive connection is kept",
        group="timeouts",
        aliases=("--timeout-keep-alive",),
    )
    body_timeout: float = option(
        30.0, "seconds without request body bytes while the app waits (408)", group="timeouts"
    )
    min_body_rate: float = option(
        240.0,
        "bytes per second a request body must average while the app waits for it, "
        "judged after --min-body-rate-grace (408); 0: off",
        group="timeouts",
    )
    min_body_rate_grace: float = option(
        5.0, "seconds of waiting for a body before its rate is judged", group="timeouts"
    )
    min_send_rate: float = option(
        240.0,
        "bytes per second the client must take a response at while the server waits on it "
        "(per wait: the bytes held get the grace period, or their time at this rate if "
        "longer); slower, the connection is aborted; 0: off",
        group="timeouts",
    )
    min_send_rate_grace: float = option(
        5.0, "seconds a response's bytes may wait for the client at least", group="timeouts"
    )
    shutdown_delay: float = option(
        0.0,
        "seconds between SIGTERM and the graceful shutdown: Ferry goes on serving, with "
        "Connection: close, and answers --ready-path with 503, so the balancer stops "
        "sending first",
        group="timeouts",
    )
    graceful_timeout: float = option(
        30.0,
        "seconds in-flight requests get to finish on shutdown",
        group="timeouts",
        aliases=("--timeout-graceful-shutdown",),
    )

    # -- TLS (docs/tls.md): uvicorn's names; the context is built by server._tls ----------
    ssl_certfile: str | None = option(
        None, "serve HTTPS with this PEM certificate (chain)", group="tls"
    )
    ssl_keyfile: str | None = option(
        None, "the PEM private key of --ssl-certfile (default: in that file)", group="tls"
    )
    ssl_keyfile_password: str | None = option(
        None, "the password of an encrypted --ssl-keyfile", group="tls"
    )
    ssl_ca_certs: str | None = option(
        None, "PEM file of the CAs client certificates are verified against", group="tls"
    )
    ssl_cert_reqs: int = option(
        0, "client certificates: 0 not asked, 1 optional, 2 required", group="tls"
    )
    ssl_ciphers: str | None = option(
        None, "OpenSSL cipher list for TLS 1.2 (default: forward-secret AEAD only)", group="tls"
    )
    ssl_handshake_timeout: float = option(
        10.0, "seconds a TLS handshake may take before the connection is dropped", group="tls"
    )

    # -- metrics (docs/metrics.md) ---------------------------------------------------
    metrics_port: int | None = option(
        None,
        "serve Prometheus metrics at /metrics on this TCP port, a listener of its own "
        "(with --workers, the main process's: the sum over all workers; none: off)",
        group="metrics",
    )
    metrics_host: str = option(
        "127.0.0.1", "address the metrics listener binds (--metrics-port)", group="metrics"
    )

    # -- the access log and the slow-request log (docs/logging.md) --
    access_log_format: str | None = option(
        None,
        "the access log's format: a string of gunicorn's atoms (see docs/logging.md), or "
        "json for one JSON object a line (default: combined log format plus the duration)",
    )
    access_log_file: str | None = option(
        None, "append the access log to this file, reopened on SIGUSR1 (default: stdout)"
    )
    slow_request_log: float = option(
        0.0,
        "seconds after which a request still running is logged, once, at warning level, "
        "with where the application is (0: off)",
    )

    def __post_init__(self) -> None:
        for name, choices in _choices().items():
            if getattr(self, name) not in choices:
                raise ConfigError(f"{name} must be one of {', '.join(choices)}")
        if self.threads < 1:
            raise ConfigError("threads must be at least 1")
        if self.workers < 1:
            raise ConfigError("workers must be at least 1")
        if self.max_requests is not None and self.max_requests < 1:
            raise ConfigError("max_requests must be at least 1 (or none)")
        TrustedPeers(self.forwarded_allow_ips)  # raises ConfigError naming a bad entry
        if self.ready_path is not None and not self.ready_path.startswith("/"):
            raise ConfigError(f"ready_path must start with '/': {self.ready_path!r}")
        if self.shutdown_delay < 0:
            raise ConfigError("shutdown_delay cannot be negative")
        if self.reload and self.workers > 1:
            # uvicorn ignores --workers with --reload; a refusal says what would happen.
            raise ConfigError("--reload runs one worker: leave out --workers")
        if self.max_requests_jitter < 0 or self.worker_timeout < 0:
            raise ConfigError("max_requests_jitter and worker_timeout cannot be negative")
        if self.uds is not None and self.fd is not None:
            raise ConfigError("--uds and --fd cannot be used together")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port out of range: {self.port}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics_port out of range: {self.metrics_port}")
        if self.metrics_port and self.metrics_port == self.port and self.uds is None:
            # Never the application's port (see docs/metrics.md).
            raise ConfigError("metrics_port must differ from port")
        for name in ("head_timeout", "keep_alive_timeout", "body_timeout", "graceful_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        for name in ("min_body_rate", "min_send_rate"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (off) or positive")
        for name in ("min_body_rate_grace", "min_send_rate_grace"):
            # Judged on the ticker's half-second sweeps: a shorter grace period would
            # judge a rate on a single sample (Kestrel asks for more than its 1 s tick).
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1 second")
        if self.root_path and (not self.root_path.startswith("/") or self.root_path.endswith("/")):
            raise ConfigError("root_path must start with '/' and not end with '/'")
        if _FIELD_VALUE.fullmatch(self.server_header) is None:
            # RFC 9110 §5.5: a field value is visible Latin-1 text, tabs and spaces; a CR
            # or LF here would inject header fields into every response.
            raise ConfigError(f"server_header is not a valid field value: {self.server_header!r}")
        self._check_tls()

    def _check_tls(self) -> None:
        """The TLS options that make sense together (the files are read by server._tls)."""
        if self.ssl_certfile is None:
            for name in ("ssl_keyfile", "ssl_keyfile_password", "ssl_ca_certs", "ssl_ciphers"):
                if getattr(self, name) is not None:
                    raise ConfigError(f"{name} needs ssl_certfile")
        if self.ssl_cert_reqs not in (0, 1, 2):
            raise ConfigError("ssl_cert_reqs must be 0 (none), 1 (optional) or 2 (required)")
        if self.ssl_cert_reqs and self.ssl_ca_certs is None:
            raise ConfigError("ssl_cert_reqs needs ssl_ca_certs: the CAs to verify clients with")
        if self.ssl_handshake_timeout <= 0:
            raise ConfigError("ssl_handshake_timeout must be positive")

        check_format(self.access_log_format)  # raises ConfigError naming an unknown atom
        if self.slow_request_log < 0:
            raise ConfigError("slow_request_log must be 0 (off) or positive")

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    @property
    def limits(self) -> Limits:
        """The engine's limits, from this configuration: a new object on each access.

        The engine keeps its request-head cache per ``Limits`` object (see
        ``ferry.http1._caches``), so read this once per server, as ``ServerState`` does:
        a ``Limits`` made per connection would start each connection with an empty cache.
        """
        return Limits(
            max_request_line=self.max_request_line,
            max_head_size=self.max_head_size,
            max_header_count=self.max_header_count,
            max_body_size=self.max_body_size,
            max_chunk_line=self.max_chunk_line,
            max_trailer_size=self.max_trailer_size,
        )

    @property
    def response_settings(self) -> ResponseSettings:
        """What the server adds to every response: a new object on each access, with a
        response-head cache of its own (see ``limits``): read it once per server."""
        return ResponseSettings(
            server_header=self.server_header.encode("latin-1") or None,
            # Whole seconds, rounded down, and none under one: advertising longer than we
            # keep the connection would have clients reuse it as we close it.
            keep_alive_timeout=int(self.keep_alive_timeout) or None,
        )
