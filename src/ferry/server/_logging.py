"""Logging set-up for the command line: errors to stderr, access lines to stdout."""

from __future__ import annotations

import logging
import sys

__all__ = ["configure_logging"]


def configure_logging(level: str) -> None:
    """Send ``ferry.error`` to stderr and ``ferry.access`` to stdout at ``level``."""
    numeric = getattr(logging, level.upper())
    for name, stream in (("ferry.error", sys.stderr), ("ferry.access", sys.stdout)):
        log = logging.getLogger(name)
        if not log.handlers:
            handler = logging.StreamHandler(stream)
            fmt = "%(message)s" if name == "ferry.access" else "%(levelname)s: %(message)s"
            handler.setFormatter(logging.Formatter(fmt))
            log.addHandler(handler)
        log.setLevel(numeric)
        log.propagate = False
