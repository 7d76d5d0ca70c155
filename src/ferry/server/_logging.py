"""Logging set-up for the command line: errors to stderr, access lines to stdout (or to
``--access-log-file``, see ``_access_log.AccessLogFile``)."""

from __future__ import annotations

import logging
import sys

from ._access_log import AccessLogFile

__all__ = ["configure_logging"]


def configure_logging(level: str, access_log_file: str | None = None) -> None:
    """Send ``ferry.error`` to stderr and ``ferry.access`` to stdout, or to
    ``access_log_file``, at ``level``; a logger that has handlers already keeps them.
    Raises ConfigError if the access log file cannot be opened."""
    numeric = getattr(logging, level.upper())
    for name, stream in (("ferry.error", sys.stderr), ("ferry.access", sys.stdout)):
        log = logging.getLogger(name)
        if not log.handlers:
            handler: logging.Handler
            if name == "ferry.access" and access_log_file is not None:
                handler = AccessLogFile(access_log_file)
            else:
                handler = logging.StreamHandler(stream)
                fmt = "%(message)s" if name == "ferry.access" else "%(levelname)s: %(message)s"
                handler.setFormatter(logging.Formatter(fmt))
            log.addHandler(handler)
        log.setLevel(numeric)
        log.propagate = False
