"""``StaticFiles``: an ASGI 3 application that serves a directory (RFC 9110).

One request goes: method → path checks (``_files``) → open and fstat → directory
(redirect, index file, listing) or file → representation (precompressed sibling, gzip on
the fly, identity) → preconditions (``_conditional``) → Range (``_ranges``) → send
(``_body``). All file-system work happens before the response starts, so an error becomes
a clean 4xx; the body is then written without holding more than 64 KiB.

That full route runs once per raw path: it leaves a cache entry (``_cache``), and later
requests for the path, while its file is unchanged, cost one ``stat``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from ..asgi import Receive, Scope, Send
from ._body import CHUNK_SIZE, BodyWriter, FileBody, gzip_pieces
from ._cache import (
    FileCache,
    FileEntry,
    GzipVariant,
    identity_of,
    open_unchanged,
    open_whole,
    read_small,
    siblings_absent_in,
)
from ._conditional import (
    Precondition,
    etag_for,
    evaluate_preconditions,
    http_date,
    if_range_matches,
)
from ._encoding import accepted_codings
from ._files import PathRefused, RequestPath, Root, open_file, parse_request_path
from ._listing import (
    SortOrder,
    listing_etag,
    read_entries,
    render_html,
    render_json,
    wants_json,
)
from ._mediatypes import content_type, is_compressible
from ._negotiation import weights
from ._ranges import ByteRange, Unsatisfiable, content_range, parse_range, plan_multipart
from ._scope import raw_path, request_headers, server_timing

__all__ = ["StaticFiles", "app_for_directory"]

Headers = list[tuple[bytes, bytes]]
AnyHeaders = Sequence[tuple[bytes, bytes]]  # a cached reply's are a tuple (see _cache)

ALLOW = b"GET, HEAD, OPTIONS"
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_ACCEPT_RANGES = (b"accept-ranges", b"bytes")


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


@dataclass(frozen=True, slots=True)
class _Request:
    """What the handler reads of an ASGI HTTP scope."""

    method: str
    raw_path: bytes  # without the root_path
    headers: dict[str, str]
    query_string: bytes
    root_path: str
    extensions: dict[str, Any]

    @classmethod
    def from_scope(cls, scope: Scope) -> _Request:
        return cls(
            method=scope["method"],
            raw_path=raw_path(scope),
            headers=request_headers(scope["headers"]),
            query_string=scope.get("query_string", b""),
            root_path=scope.get("root_path", ""),
            extensions=scope.get("extensions") or {},
        )


class _Representation:
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
            _ACCEPT_RANGES,
            *cache,
            _NOSNIFF,
        ]


class StaticFiles:
    """Serve the files under ``directory`` over GET and HEAD.

    Arguments:
        directory: the root; resolved once, so a later symlink swap of it has no effect.
        index: the file served for a directory URL (None: none).
        listings: list a directory without index file (HTML, or JSON on request); when
            off such a directory is 404.
        follow_symlinks: serve symlinks that point outside the root (off: 404).
        show_hidden: serve names beginning with a dot (off: 404, and not listed).
        cache_control: the Cache-Control value of file responses (None: no field).
        gzip: compress text-like files of at least ``gzip_min_size`` bytes on the fly
            when the client accepts gzip and sends no Range.
        precompressed: serve ``NAME.zst``, ``NAME.br`` or ``NAME.gz`` for ``NAME`` when
            it exists and the client accepts its coding.

    Raises NotADirectoryError at construction when ``directory`` is not a directory.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        index: str | None = "index.html",
        listings: bool = True,
        follow_symlinks: bool = False,
        show_hidden: bool = False,
        cache_control: str | None = None,
        gzip: bool = True,
        gzip_min_size: int = 1024,
        precompressed: bool = True,
    ) -> None:
        self.root = Root(directory, follow_symlinks=follow_symlinks, show_hidden=show_hidden)
        self.index = index
        self.listings = listings
        self.show_hidden = show_hidden
        self.cache_control = cache_control
        self._cache_control = _field_value("cache_control", cache_control)
        self.gzip = gzip
        self.gzip_min_size = gzip_min_size
        self.precompressed = precompressed
        self._cache = FileCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
                return
            raise ValueError(f"StaticFiles serves HTTP only, not {scope['type']!r}")
        method = scope["method"]
        reply = None
        if method == "GET" or method == "HEAD":
            key = raw_path(scope)
            if key in self._cache:  # the fast route: one stat (see _cache.py)
                reply = self._from_cache(key, method, request_headers(scope["headers"]))
        if reply is None:
            reply = self._respond(_Request.from_scope(scope))
        try:
            await _send_reply(reply, method, scope.get("extensions") or {}, send)
        finally:
            reply.close()

    def ferry_respond_now(
        self, scope: Scope
    ) -> tuple[int, AnyHeaders, bytes | tuple[int, int]] | None:
        """The whole response to an HTTP ``scope`` when it needs no waiting: a GET or HEAD
        of a cached file, unchanged, and not an HTML page (whose Server-Timing comes from
        the exchange). None otherwise, and the app is called as usual. The body is the
        file's bytes when they are held in memory, else ``(fd, size)``: the whole file,
        opened, which the server then owns (it sends it, and closes it).

        Ferry's server asks this before it starts a task for a bodiless request
        (``ServerState.respond_now``), with a scope it shares between requests (read it,
        never change it; ``client``, ``server``, ``state`` and ``extensions`` are None):
        the answer is the bytes ``__call__`` would send,
        without a task, a coroutine or an ASGI message per request. Other servers never
        call it; mounted in another app, StaticFiles is plain ASGI.
        """
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            return None
        key = raw_path(scope)
        entry = self._cache.peek(key)
        if entry is None or entry.document:
            return None
        headers = request_headers(scope["headers"])
        if method == "GET" and entry.body is None:
            opened = self._handover(key, entry, headers)
            if opened is not None:
                return 200, entry.head, opened
        reply = self._from_cache(key, method, headers)
        if reply is None:
            return None
        body = reply.body
        if method == "HEAD" and isinstance(body, bytes | FileBody):
            reply.close()
            return reply.status, reply.headers, b""
        if isinstance(body, bytes):
            return reply.status, reply.headers, body
        if isinstance(body, FileBody) and body.is_whole_file:
            # The open file itself, handed over: the server sends it and closes it.
            return reply.status, reply.headers, (body.fd, body.size)
        reply.close()  # gzip's pieces
        return None

    # -- the fast route: a path seen before, whose file is unchanged ---------------------

    def _handover(
        self, key: bytes, entry: FileEntry, headers: dict[str, str]
    ) -> tuple[int, int] | None:
        """For a GET of a cached file not held in memory, when its plain 200 is the
        answer (no Range, no coding to choose, no precondition that changes it): the
        whole file, opened, if it is unchanged. Else None, and ``_from_cache`` decides
        (it builds the Reply this skips, and handles every other case)."""
        if headers and (
            "range" in headers
            or (entry.negotiated and "accept-encoding" in headers)
            or evaluate_preconditions(headers, entry.etag, entry.mtime) is not Precondition.PROCEED
        ):
            return None
        opened = open_whole(entry)
        if opened is not None:
            self._cache.get(key)  # a use, for the least-recently-used order
        return opened

    def _from_cache(self, key: bytes, method: str, headers: dict[str, str]) -> Reply | None:
        """The reply from the cache entry for ``key``, or None when the full route must
        run: the file changed (the entry is dropped), a Range, or an Accept-Encoding that
        could choose a sibling or gzip."""
        entry = self._cache.get(key)
        if entry is None or (method == "GET" and "range" in headers):
            return None
        gzip = None
        accept_encoding = headers.get("accept-encoding")
        if accept_encoding is not None and entry.negotiated:
            if not self._no_sibling_applies(entry):
                return None
            if entry.gzip_eligible and _accepts_gzip(accept_encoding):
                if entry.gzip is None or entry.body is None:
                    return None  # too big to keep: gzipped while it is sent
                gzip = entry.gzip
        body: bytes | tuple[bytes, ...] | FileBody | None = entry.body
        if body is None:
            body = open_unchanged(entry)
        elif not self._cache.unchanged(entry):
            body = None
        if body is None:
            self._cache.discard(key)
            return None
        etag, head, not_modified = entry.etag, entry.head, entry.not_modified
        if gzip is not None and isinstance(body, bytes):
            etag, head, not_modified = gzip.etag, gzip.head, gzip.not_modified
            data = body
            body = self._cache.gzipped(key, gzip, lambda: gzip_pieces(data))
        outcome = evaluate_preconditions(headers, etag, entry.mtime) if headers else None
        if outcome is None or outcome is Precondition.PROCEED:
            return Reply(200, head, body, entry.document)
        if isinstance(body, FileBody):
            os.close(body.fd)
        if outcome is Precondition.FAILED:
            return _error(412)
        return Reply(304, not_modified, document=entry.document)

    def _no_sibling_applies(self, entry: FileEntry) -> bool:
        """Whether the full route too would find no precompressed sibling: none existed,
        and the directory is unchanged since."""
        if not self.precompressed:
            return True
        if entry.siblings_absent_in is None:
            return False
        directory, identity = entry.siblings_absent_in
        try:
            return identity_of(os.stat(directory)) == identity
        except OSError:
            return False

    def _remember(self, key: bytes, joined: str, real: str, fd: int, st: os.stat_result) -> None:
        """Cache what ``key`` resolved to: the open file ``fd`` at ``real``, reached as
        ``joined``. Nothing is cached for a file that changed lately, or when the path no
        longer leads to the same file (it moved while we looked)."""
        identity = identity_of(st)
        known = self._cache.get(key)
        if known is not None and known.identity == identity and known.path == joined:
            return  # cached already (this request needed the full route: a Range, say)
        if not self._cache.settled(st):
            return
        media_type = content_type(real)
        varies = is_compressible(media_type) and (self.gzip or self.precompressed)
        try:
            if os.path.realpath(joined) != real or identity_of(os.stat(joined)) != identity:
                return
            body = read_small(fd, st)
            absent_in = siblings_absent_in(real) if varies and self.precompressed else None
        except OSError:
            return
        rep = _Representation(fd, st, real, media_type, None, varies)
        cache = self._cache_fields(varies)
        gzip_eligible = varies and self.gzip and st.st_size >= self.gzip_min_size
        gzip = None
        if gzip_eligible and body is not None and st.st_size <= CHUNK_SIZE:
            on_the_fly = _Representation(fd, st, real, media_type, "gzip", varies, on_the_fly=True)
            gzip = GzipVariant(
                etag=on_the_fly.etag,
                head=tuple(on_the_fly.head(cache)),
                not_modified=((b"etag", on_the_fly.etag.encode()), *cache),
            )
        entry = FileEntry(
            path=joined,
            real=real,
            identity=identity,
            etag=rep.etag,
            mtime=rep.mtime,
            head=tuple(rep.head(cache, [(b"content-length", b"%d" % st.st_size)])),
            not_modified=((b"etag", rep.etag.encode()), *cache),
            body=body,
            document=_is_document(media_type),
            negotiated=varies,
            gzip_eligible=gzip_eligible,
            siblings_absent_in=absent_in,
            gzip=gzip,
        )
        self._cache.put(key, entry)

    # -- deciding the response (file-system work only, no I/O on the connection) ------

    def _respond(self, request: _Request) -> Reply:
        method = request.method
        if method == "OPTIONS":
            return Reply(204, [(b"allow", ALLOW)])
        if method not in ("GET", "HEAD"):
            return _error(405, [(b"allow", ALLOW)])
        try:
            path = parse_request_path(request.raw_path, show_hidden=self.show_hidden)
            joined = self.root.join(path.segments)
            real = self.root.admit(os.path.realpath(joined))
            fd, st = open_file(real)
        except PathRefused as exc:
            return _error(exc.status)
        except PermissionError:
            return _error(403)
        if stat.S_ISREG(st.st_mode) and not path.trailing_slash:
            self._remember(request.raw_path, joined, real, fd, st)
            return self._file(fd, st, real, request)
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            return self._directory(path, real, request)
        return _error(404)  # a FIFO, socket or device; or "/file.txt/"

    def _directory(self, path: RequestPath, real: str, request: _Request) -> Reply:
        url_path = "".join(f"/{segment}" for segment in path.segments) + "/"
        if not path.trailing_slash:
            return _redirect(request.root_path + url_path, request.query_string)
        if self.index:
            reply = self._index_file(path, request)
            if reply is not None:
                return reply
        if not self.listings:
            return _error(404)
        return self._listing(request.root_path + url_path, real, request)

    def _index_file(self, path: RequestPath, request: _Request) -> Reply | None:
        assert self.index is not None
        try:
            joined = self.root.join((*path.segments, self.index))
            real = self.root.admit(os.path.realpath(joined))
            fd, st = open_file(real)
        except PathRefused:
            return None
        except PermissionError:
            return _error(403)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        self._remember(request.raw_path, joined, real, fd, st)
        return self._file(fd, st, real, request)

    def _listing(self, url_path: str, real: str, request: _Request) -> Reply:
        try:
            entries = read_entries(real, show_hidden=self.show_hidden, allowed=self.root.allows)
        except PermissionError:
            return _error(403)
        order = SortOrder.from_query(request.query_string)
        as_json = wants_json(request.headers.get("accept", ""))
        media_type = b"application/json" if as_json else b"text/html; charset=utf-8"
        # RFC 9111 §5.2.2.4: no-cache asks caches to revalidate, which needs a validator.
        etag = listing_etag(url_path, entries, order, media_type)
        cache = [(b"etag", etag.encode()), (b"cache-control", b"no-cache"), (b"vary", b"Accept")]
        outcome = evaluate_preconditions(request.headers, etag, None)
        if outcome is Precondition.FAILED:
            return _error(412)
        if outcome is Precondition.NOT_MODIFIED:
            # RFC 9110 §15.4.5: a 304 has the fields a 200 would have that guide caches.
            return Reply(304, cache, document=not as_json)
        render = render_json if as_json else render_html
        body = render(url_path, entries, order)
        headers = [
            (b"content-type", media_type),
            (b"content-length", b"%d" % len(body)),
            *cache,
            _NOSNIFF,
        ]
        return Reply(200, headers, body, document=not as_json)

    # -- files -------------------------------------------------------------------------

    def _file(self, fd: int, st: os.stat_result, real: str, request: _Request) -> Reply:
        """The reply for an open regular file; it owns ``fd`` from here on (nothing below
        raises: header values were checked at construction)."""
        rep = self._representation(fd, st, real, request)
        reply = self._file_reply(rep, request)
        reply.document = _is_document(rep.media_type)
        return reply

    def _file_reply(self, rep: _Representation, request: _Request) -> Reply:
        cache = self._cache_fields(rep.varies)
        outcome = evaluate_preconditions(request.headers, rep.etag, rep.mtime)
        if outcome is not Precondition.PROCEED:
            os.close(rep.fd)
            if outcome is Precondition.FAILED:
                return _error(412)
            # RFC 9110 §15.4.5: a 304 has the fields a 200 would have that guide caches.
            return Reply(304, [(b"etag", rep.etag.encode()), *cache])
        if rep.gzip_on_the_fly:
            return Reply(200, rep.head(cache), GzipBody(rep.fd, rep.size))
        return _ranged(rep, cache, request)

    def _representation(
        self, fd: int, st: os.stat_result, real: str, request: _Request
    ) -> _Representation:
        """Choose what to send for the file: a precompressed sibling, the file gzipped on
        the fly, or the file itself (RFC 9110 §12.5.3)."""
        media_type = content_type(real)
        varies = is_compressible(media_type) and (self.gzip or self.precompressed)
        accept_encoding = request.headers.get("accept-encoding")
        if varies and self.precompressed and accept_encoding is not None:
            sibling = self._precompressed_sibling(real, accept_encoding)
            if sibling is not None:
                os.close(fd)
                fd, st, real, coding = sibling
                return _Representation(fd, st, real, media_type, coding, varies)
        if varies and self._wants_gzip(st.st_size, request):
            return _Representation(fd, st, real, media_type, "gzip", varies, on_the_fly=True)
        return _Representation(fd, st, real, media_type, None, varies)

    def _cache_fields(self, varies: bool) -> Headers:
        fields = []
        if self._cache_control is not None:
            fields.append((b"cache-control", self._cache_control))
        if varies:
            fields.append((b"vary", b"Accept-Encoding"))
        return fields

    def _precompressed_sibling(
        self, real: str, accept_encoding: str
    ) -> tuple[int, os.stat_result, str, str] | None:
        for coding, suffix in accepted_codings(accept_encoding):
            try:
                sibling = self.root.admit(os.path.realpath(real + suffix))
                fd, st = open_file(sibling)
            except (PathRefused, PermissionError):
                continue
            if stat.S_ISREG(st.st_mode):
                return fd, st, sibling, coding
            os.close(fd)
        return None

    def _wants_gzip(self, size: int, request: _Request) -> bool:
        # A Range asks for bytes of the identity representation: we serve those rather than
        # compress (a gzip stream's length is unknown until it is made). HEAD ignores Range.
        if not self.gzip or size < self.gzip_min_size:
            return False
        if request.method == "GET" and "range" in request.headers:
            return False
        return _accepts_gzip(request.headers.get("accept-encoding", ""))


def _is_document(media_type: str) -> bool:
    return media_type.startswith("text/html")


def _accepts_gzip(accept_encoding: str) -> bool:
    codings = weights(accept_encoding)
    return codings.get("gzip", codings.get("*", 0.0)) > 0


def _ranged(rep: _Representation, cache: Headers, request: _Request) -> Reply:
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
            return _error(416, [(b"content-range", f"bytes */{size}".encode())])
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


# -- small responses ---------------------------------------------------------------------


def _error(status: int, extra: Headers | None = None) -> Reply:
    """A short plain-text error; it names the status only, never a path."""
    phrase = "Range Not Satisfiable" if status == 416 else HTTPStatus(status).phrase
    body = f"{status} {phrase}\n".encode()  # RFC 9110 §15.5.17 renamed 416; Python 3.11 didn't
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
        *(extra or []),
        _NOSNIFF,
    ]
    return Reply(status, headers, body)


def _redirect(url_path: str, query_string: bytes) -> Reply:
    # RFC 9110 §15.4.2: 301 to the slash form. The Location is rebuilt from the checked
    # segments (percent-encoded), never copied from the request: "//host" can't escape.
    location = quote(url_path, safe="/!$&'()*+,;=:@~").encode("ascii")
    if query_string:
        location += b"?" + query_string
    return _error(301, [(b"location", location)])


async def _send_reply(reply: Reply, method: str, extensions: dict[str, Any], send: Send) -> None:
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


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to set up or tear down; answer the server so it needn't guess."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _field_value(name: str, value: str | None) -> bytes | None:
    """``value`` as a header field value. Raises ValueError if it isn't one (RFC 9110 §5.5:
    visible Latin-1 text, spaces and tabs; a CR or LF would inject fields)."""
    if value is None:
        return None
    try:
        encoded = value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not a valid field value: {value!r}") from None
    if any((byte < 0x20 and byte != 0x09) or byte == 0x7F for byte in encoded):
        raise ValueError(f"{name} is not a valid field value: {value!r}")
    return encoded


def app_for_directory(path: str | os.PathLike[str]) -> StaticFiles:
    """The application ``ferry serve PATH`` runs for a directory: defaults throughout."""
    return StaticFiles(path)
