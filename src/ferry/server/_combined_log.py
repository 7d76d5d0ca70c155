"""The access log's default line: the combined log format plus the duration in
milliseconds. A module of its own so that the accelerator compiles it: it is written
per response, and ``_access_log`` (the other formats, the file) runs as Python."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ..http1 import Fields, Request

__all__ = ["clf_time", "write_combined"]

access_logger: Final = logging.getLogger("ferry.access")
_INFO: Final = logging.INFO


def write_combined(
    request: Request,
    client: tuple[str, int] | None,
    status: int,
    body_bytes: int,
    start_time: float,
    response_headers: Fields,
) -> None:
    """Combined log format, plus the request's duration in milliseconds (an
    ``_access_log.AccessWriter``)."""
    if not access_logger.isEnabledFor(_INFO):
        return
    headers = dict(request.headers)  # the last of each name, as before
    access_logger.info(
        '%s - - [%s] "%s %s HTTP/%s" %d %d "%s" "%s" %.3fms',
        client[0] if client else "-",
        clf_time(),
        request.method.decode("latin-1"),
        request.target.decode("latin-1"),
        request.http_version,
        status,
        body_bytes,
        headers.get(b"referer", b"-").decode("latin-1"),
        headers.get(b"user-agent", b"-").decode("latin-1"),
        (time.perf_counter() - start_time) * 1000,
    )


class _Second:
    """The common log format's time of the current second, kept until the next."""

    def __init__(self) -> None:
        self.second = -1
        self.text = ""


_second: Final = _Second()


def clf_time() -> str:
    """Now, as the common log format writes it (``10/Oct/2000:13:55:36 -0700``): made
    once per second."""
    now = int(time.time())
    cache = _second
    if cache.second != now:
        cache.second = now
        cache.text = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(now))
    return cache.text
