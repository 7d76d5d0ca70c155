"""What a file response sends (``Representation``): its fields, the rules that choose it,
and the 200, 206 or 416 it makes.

Each rule is written here once, for both routes of ``StaticFiles`` (the cache's and the
full route's): whether a Range applies (``requested_range``), whether gzip on the fly
answers (``gzip_applies``), a file response's fields (``Representation.head`` and
``Representation.not_modified``), and Range's outcome (``ranged``).
"""

from __future__ import annotations

import os

from ._body import FileBody
from ._conditional import etag_for, http_date, if_range_matches
from ._negotiation import weights
from ._ranges import ByteRange, Unsatisfiable, content_range, parse_range, plan_multipart
from ._reply import NOSNIFF, Headers, Reply, error
from ._scope import Request

__all__ = [
    "ACCEPT_RANGES",
    "Representation",
    "accepts_gzip",
    "gzip_applies",
    "is_document",
    "ranged",
    "requested_range",
]

ACCEPT_RANGES = (b"accept-ranges", b"bytes")


class Representation:
    """What a file response sends (RFC 9110 §3.2): the file, a precompressed sibling, or
    the file gzipped on the fly; with its validators, taken from the one fstat."""

    __slots__ = (
        "caching",
        "coding",
        "etag",
        "fd",
        "gzip_on_the_fly",
        "media_type",
        "mtime",
        "path",
        "size",
        "varies",
    )

    def __init__(
        self,
        fd: int,
        st: os.stat_result,
        path: str,
        media_type: str,
        coding: str | None,
        varies: bool,
        caching: Headers,
        *,
        on_the_fly: bool = False,
    ) -> None:
        self.fd = fd
        self.size = st.st_size
        self.path = path
        self.media_type = media_type
        self.coding = coding  # the Content-Encoding, None for identity
        self.varies = varies  # another Accept-Encoding could get other bytes
        self.caching = caching  # Cache-Control and Vary: what guides caches
        self.gzip_on_the_fly = on_the_fly
        # The gzip output is deterministic (see GzipCompressor): a strong ETag of its own.
        self.etag = etag_for(st, "-gzip" if on_the_fly else "")
        self.mtime = int(st.st_mtime)

    def head(self, framing: Headers | None = None, *, media_type: str | None = None) -> Headers:
        """A 200's or 206's fields; ``framing`` holds Content-Length and Content-Range,
        ``media_type`` replaces the Content-Type (a multipart body's)."""
        fields = [(b"content-type", (media_type or self.media_type).encode())]
        if self.coding is not None:
            fields.append((b"content-encoding", self.coding.encode()))
        return [
            *fields,
            *(framing or ()),
            (b"last-modified", http_date(self.mtime).encode()),
            (b"etag", self.etag.encode()),
            ACCEPT_RANGES,
            *self.caching,
            NOSNIFF,
        ]

    def not_modified(self) -> Headers:
        """A 304's fields: RFC 9110 §15.4.5, those a 200 would have that guide caches
        (no Last-Modified: the ETag is there)."""
        return [(b"etag", self.etag.encode()), *self.caching]


def is_document(media_type: str) -> bool:
    """Whether a file of this Content-Type is an HTML page (it gets Server-Timing)."""
    return media_type.startswith("text/html")


def requested_range(method: str, headers: dict[str, str]) -> str | None:
    """The Range field value, if it applies: RFC 9110 §14.2, only to a GET (a HEAD
    ignores it)."""
    return headers.get("range") if method == "GET" else None


def gzip_applies(eligible: bool, method: str, headers: dict[str, str]) -> bool:
    """Whether the file is sent gzipped on the fly: it is ``eligible`` (text-like, gzip
    on, at least ``gzip_min_size`` bytes), the client accepts gzip, and no Range applies.

    A Range asks for bytes of the identity representation: we serve those rather than
    compress (a gzip stream's length is unknown until it is made).
    """
    if not eligible or requested_range(method, headers) is not None:
        return False
    return accepts_gzip(headers.get("accept-encoding", ""))


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value gives gzip a weight above 0 (RFC 9110 §12.5.3)."""
    codings = weights(accept_encoding)
    return codings.get("gzip", codings.get("*", 0.0)) > 0


def ranged(rep: Representation, request: Request, document: bool) -> Reply:
    """RFC 9110 §13.2.2 step 5 and §14.2: 200, 206 (one range or multipart) or 416; the
    reply owns ``rep.fd``. ``document``: the file is an HTML page (see Reply)."""
    size = rep.size
    range_value = requested_range(request.method, request.headers)
    if_range = request.headers.get("if-range")
    ranges = None
    if range_value is not None and (
        if_range is None or if_range_matches(if_range, rep.etag, rep.mtime)
    ):
        try:
            ranges = parse_range(range_value, size)
        except Unsatisfiable:
            os.close(rep.fd)
            return error(416, [(b"content-range", f"bytes */{size}".encode())])
    if ranges is None:
        head = rep.head([(b"content-length", b"%d" % size)])
        return Reply(200, head, FileBody.whole(rep.fd, rep.path, size), document)
    if len(ranges) == 1:
        only = ranges[0]
        framing = [
            (b"content-length", b"%d" % only.length),
            (b"content-range", content_range(only, size).encode()),
        ]
        body = FileBody(rep.fd, rep.path, size, [only])
        return Reply(206, rep.head(framing), body, document)
    multipart = plan_multipart(ranges, size, rep.media_type, os.urandom(12).hex())
    pieces: list[bytes | ByteRange] = []
    for part_head, byte_range in multipart.parts:
        pieces += [part_head, byte_range]
    pieces.append(multipart.closing)
    head = rep.head(
        [(b"content-length", b"%d" % multipart.content_length)],
        media_type=multipart.content_type,
    )
    return Reply(206, head, FileBody(rep.fd, rep.path, size, pieces), document)
