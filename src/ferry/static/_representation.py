"""What a file response sends (``Representation``), and the 200, 206 or 416 it makes."""

from __future__ import annotations

import os

from ._body import FileBody
from ._conditional import etag_for, http_date, if_range_matches
from ._negotiation import weights
from ._ranges import ByteRange, Unsatisfiable, content_range, parse_range, plan_multipart
from ._reply import NOSNIFF, Headers, Reply, error
from ._scope import Request

__all__ = ["ACCEPT_RANGES", "Representation", "accepts_gzip", "is_document", "ranged"]

ACCEPT_RANGES = (b"accept-ranges", b"bytes")


class Representation:
    """What a file response sends (RFC 9110 §3.2): the file, a precompressed sibling, or
    the file gzipped on the fly; with its validators, taken from the one fstat."""

    __slots__ = (
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
        *,
        on_the_fly: bool = False,
    ) -> None:
        self.fd = fd
        self.size = st.st_size
        self.path = path
        self.media_type = media_type
        self.coding = coding  # the Content-Encoding, None for identity
        self.varies = varies  # another Accept-Encoding could get other bytes
        self.gzip_on_the_fly = on_the_fly
        # The gzip output is deterministic (see GzipCompressor): a strong ETag of its own.
        self.etag = etag_for(st, "-gzip" if on_the_fly else "")
        self.mtime = int(st.st_mtime)

    def head(
        self, cache: Headers, framing: Headers | None = None, *, media_type: str | None = None
    ) -> Headers:
        """The response's fields; ``framing`` holds Content-Length and Content-Range."""
        fields = [(b"content-type", (media_type or self.media_type).encode())]
        if self.coding is not None:
            fields.append((b"content-encoding", self.coding.encode()))
        return [
            *fields,
            *(framing or ()),
            (b"last-modified", http_date(self.mtime).encode()),
            (b"etag", self.etag.encode()),
            ACCEPT_RANGES,
            *cache,
            NOSNIFF,
        ]


def is_document(media_type: str) -> bool:
    return media_type.startswith("text/html")


def accepts_gzip(accept_encoding: str) -> bool:
    codings = weights(accept_encoding)
    return codings.get("gzip", codings.get("*", 0.0)) > 0


def ranged(rep: Representation, cache: Headers, request: Request) -> Reply:
    """RFC 9110 §13.2.2 step 5 and §14.2: 200, 206 (one range or multipart) or 416."""
    size = rep.size
    range_value = request.headers.get("range") if request.method == "GET" else None
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
        whole: list[bytes | ByteRange] = [ByteRange(0, size - 1)] if size else []
        head = rep.head(cache, [(b"content-length", b"%d" % size)])
        return Reply(200, head, FileBody(rep.fd, rep.path, size, whole))
    if len(ranges) == 1:
        only = ranges[0]
        framing = [
            (b"content-length", b"%d" % only.length),
            (b"content-range", content_range(only, size).encode()),
        ]
        return Reply(206, rep.head(cache, framing), FileBody(rep.fd, rep.path, size, [only]))
    multipart = plan_multipart(ranges, size, rep.media_type, os.urandom(12).hex())
    pieces: list[bytes | ByteRange] = []
    for part_head, byte_range in multipart.parts:
        pieces += [part_head, byte_range]
    pieces.append(multipart.closing)
    head = rep.head(
        cache,
        [(b"content-length", b"%d" % multipart.content_length)],
        media_type=multipart.content_type,
    )
    return Reply(206, head, FileBody(rep.fd, rep.path, size, pieces))
