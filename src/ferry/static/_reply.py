"""A response decided but not yet sent (``Reply``), the small ones (errors, redirects,
the outcome of a precondition), and the two ways a ``Reply`` leaves: through ASGI
``send`` (``send_reply``), or whole to Ferry's respond-now hook (``Reply.answer_now``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ._body import BodyWriter, FileBody
from ._conditional import Precondition
from ._scope import server_timing

if TYPE_CHECKING:  # only: ferry.asgi imports ferry.static (see tests/static/test_imports.py)
    from ..asgi import Send

__all__ = [
    "NOSNIFF",
    "AnyHeaders",
    "Body",
    "GzipBody",
    "Headers",
    "Reply",
    "WholeFile",
    "error",
    "precondition_reply",
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


class WholeFile:
    """A whole file opened by the cache (after its identity was checked), ``opened`` as
    ``(fd, size)``: the respond-now hook hands that over; ``send_reply`` sends the file
    as a ``FileBody``."""

    __slots__ = ("fd", "opened", "path")

    def __init__(self, opened: tuple[int, int], path: str) -> None:
        self.opened = opened
        self.fd = opened[0]
        self.path = path


# A reply's body: bytes, body messages held in memory (a tuple), or a file.
Body = bytes | tuple[bytes, ...] | WholeFile | FileBody | GzipBody


class Reply:
    """A response decided but not yet sent; ``close`` releases its file, if any.

    ``document`` marks an HTML page (a file, a listing, their 304s; never an error): it
    gets Server-Timing (see ``_scope.server_timing``). A plain class, not a dataclass:
    the compiled accelerator makes one per request in a few instructions.
    """

    __slots__ = ("body", "document", "headers", "status")

    def __init__(
        self,
        status: int,
        headers: AnyHeaders,
        body: Body = b"",
        document: bool = False,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.document = document

    def close(self) -> None:
        body = self.body
        if isinstance(body, WholeFile | FileBody | GzipBody):
            os.close(body.fd)

    def for_method(self, method: str) -> Reply:
        """This reply as ``method`` gets it: RFC 9110 §9.3.2, a HEAD gets the fields a GET
        would, and no body (its file is closed here)."""
        if method == "HEAD":
            self.close()
            self.body = b""
        return self

    def answer_now(self) -> tuple[int, AnyHeaders, bytes | tuple[int, int]] | None:
        """This reply in the shape of the respond-now hook's answer: the body as bytes, or
        ``(fd, size)`` for a whole open file, which the caller then owns. None (the file
        closed) for a body sent as several messages: that reply goes through ``send``."""
        body = self.body
        if isinstance(body, bytes):
            return self.status, self.headers, body
        if isinstance(body, WholeFile):
            return self.status, self.headers, body.opened
        self.close()
        return None


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


def precondition_reply(outcome: Precondition, not_modified: AnyHeaders, document: bool) -> Reply:
    """The reply when RFC 9110 §13.2.2 does not let the request proceed: 412 (an error), or
    304 with ``not_modified``, the fields of a 304 (see ``Representation.not_modified``)."""
    if outcome is Precondition.FAILED:
        return error(412)
    return Reply(304, not_modified, document=document)


def redirect(url_path: str, query_string: bytes) -> Reply:
    # RFC 9110 §15.4.2: 301 to the slash form. The Location is rebuilt from the checked
    # segments (percent-encoded), never copied from the request: "//host" can't escape.
    location = quote(url_path, safe="/!$&'()*+,;=:@~").encode("ascii")
    if query_string:
        location += b"?" + query_string
    return error(301, [(b"location", location)])


async def send_reply(reply: Reply, extensions: dict[str, Any], send: Send) -> None:
    """Send ``reply`` as ASGI messages, the body zero-copy when ``extensions`` offer it
    (see ``_body``). The caller closes the reply after."""
    headers = reply.headers
    timing = server_timing(extensions) if reply.document else None
    if timing is not None:
        headers = [*headers, (b"server-timing", timing)]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    body = reply.body
    if isinstance(body, bytes):
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return
    writer = BodyWriter(send, extensions)
    if isinstance(body, tuple):
        await writer.send_pieces(body)
    elif isinstance(body, WholeFile):
        await writer.send_file(FileBody.whole(body.fd, body.path, body.opened[1]))
    elif isinstance(body, FileBody):
        await writer.send_file(body)
    else:
        await writer.send_gzip(body.fd, body.size)
