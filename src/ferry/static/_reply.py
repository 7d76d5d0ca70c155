"""A response decided but not yet sent (``Reply``), the small ones (errors, redirects),
and sending a ``Reply`` through ASGI ``send``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from ..asgi import Send
from ._body import BodyWriter, FileBody
from ._scope import server_timing

__all__ = [
    "NOSNIFF",
    "AnyHeaders",
    "GzipBody",
    "Headers",
    "Reply",
    "error",
    "redirect",
    "send_reply",
]

Headers = list[tuple[bytes, bytes]]
AnyHeaders = Sequence[tuple[bytes, bytes]]  # a cached reply's are a tuple (see _cache)

NOSNIFF = (b"x-content-type-options", b"nosniff")


@dataclass(slots=True)
class GzipBody:
    """A file compressed while it is sent; its length is not known in advance."""

    fd: int
    size: int


@dataclass(slots=True)
class Reply:
    """A response decided but not yet sent; ``close`` releases its file, if any."""

    status: int
    headers: AnyHeaders
    body: bytes | tuple[bytes, ...] | FileBody | GzipBody = b""  # a tuple: body messages
    document: bool = False  # an HTML page: it gets Server-Timing (see _scope.server_timing)

    def close(self) -> None:
        if isinstance(self.body, FileBody | GzipBody):
            os.close(self.body.fd)


def error(status: int, extra: Headers | None = None) -> Reply:
    """A short plain-text error; it names the status only, never a path."""
    phrase = "Range Not Satisfiable" if status == 416 else HTTPStatus(status).phrase
    body = f"{status} {phrase}\n".encode()  # RFC 9110 §15.5.17 renamed 416; Python 3.11 didn't
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
        *(extra or []),
        NOSNIFF,
    ]
    return Reply(status, headers, body)


def redirect(url_path: str, query_string: bytes) -> Reply:
    # RFC 9110 §15.4.2: 301 to the slash form. The Location is rebuilt from the checked
    # segments (percent-encoded), never copied from the request: "//host" can't escape.
    location = quote(url_path, safe="/!$&'()*+,;=:@~").encode("ascii")
    if query_string:
        location += b"?" + query_string
    return error(301, [(b"location", location)])


async def send_reply(reply: Reply, method: str, extensions: dict[str, Any], send: Send) -> None:
    headers = reply.headers
    timing = server_timing(extensions) if reply.document else None
    if timing is not None:
        headers = [*headers, (b"server-timing", timing)]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    body = reply.body
    if method == "HEAD" or isinstance(body, bytes):
        body = b"" if method == "HEAD" else body
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return
    writer = BodyWriter(send, extensions)
    if isinstance(body, tuple):
        await writer.send_pieces(body)
    elif isinstance(body, FileBody):
        await writer.send_file(body)
    else:
        await writer.send_gzip(body.fd, body.size)
