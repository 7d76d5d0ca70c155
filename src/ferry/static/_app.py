"""``StaticFiles``: an ASGI 3 application that serves a directory (RFC 9110).

One decision path (``StaticFiles._decide``), for ``__call__`` and for Ferry's respond-now
hook alike: method → the file: from the cache entry of the raw path (``_cache``), else by
the full route (path checks in ``_files``, open and fstat, then a directory: redirect,
index file, listing; or a file) → representation (precompressed sibling, gzip on the fly,
identity) → preconditions (``_conditional``), evaluated once → Range (``_ranges``) →
HEAD's rule → send (``_reply``, ``_body``). Each rule is written once
(``_representation``, ``_reply``); the two ways to the file differ only in what they know
already. All file-system work happens before the response starts, so an error becomes a
clean 4xx; the body is then written without holding more than 64 KiB.

The full route runs once per raw path: it leaves a cache entry, and later requests for
the path, while its file is unchanged, cost one ``stat``.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from ._body import CHUNK_SIZE, gzip_pieces
from ._cache import (
    FileCache,
    FileEntry,
    GzipVariant,
    identity_of,
    open_whole,
    read_small,
    siblings_absent_in,
)
from ._conditional import Precondition, evaluate_preconditions
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
from ._reply import (
    NOSNIFF,
    Body,
    GzipBody,
    Headers,
    Reply,
    WholeFile,
    error,
    precondition_reply,
    redirect,
    send_reply,
)
from ._representation import (
    Representation,
    gzip_applies,
    is_document,
    ranged,
    requested_range,
)
from ._scope import Request, raw_path, request_headers

if TYPE_CHECKING:  # only: ferry.asgi imports ferry.static (see tests/static/test_imports.py)
    from ..asgi import Receive, Scope, Send
    from ..asgi._types import ImmediateResponse

__all__ = ["StaticFiles", "app_for_directory"]

ALLOW = b"GET, HEAD, OPTIONS"


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
        reply = self._decide(scope)
        try:
            await send_reply(reply, scope.get("extensions") or {}, send)
        finally:
            reply.close()

    def ferry_respond_now(self, scope: Scope) -> ImmediateResponse | None:
        """The whole response to an HTTP ``scope`` when it needs no waiting: a GET or HEAD
        of a cached file, unchanged, and not an HTML page (whose Server-Timing comes from
        the exchange), sent as the file itself (not gzipped on the fly: those are several
        body messages). None otherwise, and the app is called as usual. The body is the
        file's bytes when they are held in memory, else ``(fd, size)``: the whole file,
        opened, which the server then owns (it sends it, and closes it).

        Ferry's server asks this before it starts a task for a bodiless request
        (``ServerState.respond_now``), with a scope it shares between requests (read it,
        never change it; ``client``, ``server``, ``state`` and ``extensions`` are None):
        the answer is the bytes ``__call__`` would send, decided by the same steps,
        without a task, a coroutine or an ASGI message per request. Other servers never
        call it; mounted in another app, StaticFiles is plain ASGI.
        """
        method = scope["method"]
        if not _serves(method):
            return None
        key = raw_path(scope)
        entry = self._cache.get(key)
        if entry is None or entry.document:
            return None
        headers = request_headers(scope["headers"])
        reply = self._from_cache(key, entry, method, headers, identity_only=True)
        return None if reply is None else reply.for_method(method).answer_now()

    # -- the one decision path ----------------------------------------------------------

    def _decide(self, scope: Scope) -> Reply:
        """The reply to an HTTP request: method (GET and HEAD are served) → the cache
        entry for its raw path (``_from_cache``), else the full route (``_from_files``) →
        HEAD's rule. Both routes choose the representation and evaluate preconditions
        (once), Range and the fields by the same rules (``_representation``, ``_reply``).
        """
        method = scope["method"]
        if not _serves(method):
            return _other_method(method)
        key = raw_path(scope)
        headers = request_headers(scope["headers"])
        entry = self._cache.get(key)
        reply = None if entry is None else self._from_cache(key, entry, method, headers)
        if reply is None:
            request = Request(
                method, key, headers, scope.get("query_string", b""), scope.get("root_path", "")
            )
            reply = self._from_files(request)
        return reply.for_method(method)

    # -- the cache's route: a path seen before, whose file is unchanged ------------------

    def _from_cache(
        self,
        key: bytes,
        entry: FileEntry,
        method: str,
        headers: dict[str, str],
        *,
        identity_only: bool = False,
    ) -> Reply | None:
        """The reply from ``entry``, the cache's for ``key``; None when the full route must
        run: the file changed (the entry is dropped), or the cache can't choose the
        representation (see ``_cached_choice``; with ``identity_only``, the file itself
        is the only one it may choose)."""
        chosen = self._cached_choice(entry, method, headers)
        if chosen is None or (identity_only and chosen is not entry):
            return None
        body: Body | None = entry.body
        if body is None:
            opened = open_whole(entry)
            body = None if opened is None else WholeFile(opened, entry.real)
        elif not self._cache.unchanged(entry):
            body = None
        if body is None:
            self._cache.discard(key)
            return None
        if isinstance(chosen, GzipVariant) and isinstance(body, bytes):
            data = body
            body = self._cache.gzipped(key, chosen, lambda: gzip_pieces(data))
        if headers:
            outcome = evaluate_preconditions(headers, chosen.etag, entry.mtime)
            if outcome is not Precondition.PROCEED:
                if isinstance(body, WholeFile):
                    os.close(body.fd)
                return precondition_reply(outcome, chosen.not_modified, entry.document)
        return Reply(200, chosen.head, body, entry.document)

    def _cached_choice(
        self, entry: FileEntry, method: str, headers: dict[str, str]
    ) -> FileEntry | GzipVariant | None:
        """The representation the cache sends for ``entry``: the file itself (``entry``),
        its gzip variant, or None when only the full route can tell: a Range applies, a
        precompressed sibling may exist, or gzip applies to a file too big to keep (it
        is gzipped while it is sent)."""
        if not headers:
            return entry
        if requested_range(method, headers) is not None:
            return None
        if not entry.negotiated or "accept-encoding" not in headers:
            return entry
        if not self._no_sibling_applies(entry):
            return None
        if not gzip_applies(entry.gzip_eligible, method, headers):
            return entry
        if entry.gzip is None or entry.body is None:
            return None
        return entry.gzip

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
        varies = self._varies(media_type)
        try:
            if os.path.realpath(joined) != real or identity_of(os.stat(joined)) != identity:
                return
            body = read_small(fd, st)
            absent_in = siblings_absent_in(real) if varies and self.precompressed else None
        except OSError:
            return
        caching = self._caching_fields(varies)
        rep = Representation(fd, st, real, media_type, None, varies, caching)
        gzip_eligible = self._gzip_eligible(varies, st.st_size)
        gzip = None
        if gzip_eligible and body is not None and st.st_size <= CHUNK_SIZE:
            on_the_fly = Representation(
                fd, st, real, media_type, "gzip", varies, caching, on_the_fly=True
            )
            gzip = GzipVariant(
                etag=on_the_fly.etag,
                head=tuple(on_the_fly.head()),
                not_modified=tuple(on_the_fly.not_modified()),
            )
        entry = FileEntry(
            path=joined,
            real=real,
            identity=identity,
            etag=rep.etag,
            mtime=rep.mtime,
            head=tuple(rep.head([(b"content-length", b"%d" % st.st_size)])),
            not_modified=tuple(rep.not_modified()),
            body=body,
            document=is_document(media_type),
            negotiated=varies,
            gzip_eligible=gzip_eligible,
            siblings_absent_in=absent_in,
            gzip=gzip,
        )
        self._cache.put(key, entry)

    # -- the full route (file-system work only, no I/O on the connection) --------------

    def _from_files(self, request: Request) -> Reply:
        """The reply to a GET or HEAD from the file system: path checks, open, then a
        file, or a directory (redirect, index file, listing)."""
        try:
            path = parse_request_path(request.raw_path, show_hidden=self.show_hidden)
            joined = self.root.join(path.segments)
            real = self.root.admit(os.path.realpath(joined))
            fd, st = open_file(real)
        except PathRefused as exc:
            return error(exc.status)
        except PermissionError:
            return error(403)
        if stat.S_ISREG(st.st_mode) and not path.trailing_slash:
            self._remember(request.raw_path, joined, real, fd, st)
            return self._file(fd, st, real, request)
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            return self._directory(path, real, request)
        return error(404)  # a FIFO, socket or device; or "/file.txt/"

    def _directory(self, path: RequestPath, real: str, request: Request) -> Reply:
        url_path = "".join(f"/{segment}" for segment in path.segments) + "/"
        if not path.trailing_slash:
            return redirect(request.root_path + url_path, request.query_string)
        if self.index:
            reply = self._index_file(path, request)
            if reply is not None:
                return reply
        if not self.listings:
            return error(404)
        return self._listing(request.root_path + url_path, real, request)

    def _index_file(self, path: RequestPath, request: Request) -> Reply | None:
        assert self.index is not None
        try:
            joined = self.root.join((*path.segments, self.index))
            real = self.root.admit(os.path.realpath(joined))
            fd, st = open_file(real)
        except PathRefused:
            return None
        except PermissionError:
            return error(403)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        self._remember(request.raw_path, joined, real, fd, st)
        return self._file(fd, st, real, request)

    def _listing(self, url_path: str, real: str, request: Request) -> Reply:
        try:
            entries = read_entries(real, show_hidden=self.show_hidden, allowed=self.root.allows)
        except PermissionError:
            return error(403)
        order = SortOrder.from_query(request.query_string)
        as_json = wants_json(request.headers.get("accept", ""))
        media_type = b"application/json" if as_json else b"text/html; charset=utf-8"
        # RFC 9111 §5.2.2.4: no-cache asks caches to revalidate, which needs a validator.
        etag = listing_etag(url_path, entries, order, media_type)
        cache = [(b"etag", etag.encode()), (b"cache-control", b"no-cache"), (b"vary", b"Accept")]
        outcome = evaluate_preconditions(request.headers, etag, None)
        if outcome is not Precondition.PROCEED:
            # RFC 9110 §15.4.5: a 304 has the fields a 200 would have that guide caches.
            return precondition_reply(outcome, cache, not as_json)
        render = render_json if as_json else render_html
        body = render(url_path, entries, order)
        headers = [
            (b"content-type", media_type),
            (b"content-length", b"%d" % len(body)),
            *cache,
            NOSNIFF,
        ]
        return Reply(200, headers, body, document=not as_json)

    # -- files -------------------------------------------------------------------------

    def _file(self, fd: int, st: os.stat_result, real: str, request: Request) -> Reply:
        """The reply for an open regular file; it owns ``fd`` from here on (nothing below
        raises: header values were checked at construction)."""
        rep = self._representation(fd, st, real, request)
        document = is_document(rep.media_type)
        outcome = evaluate_preconditions(request.headers, rep.etag, rep.mtime)
        if outcome is not Precondition.PROCEED:
            os.close(rep.fd)
            return precondition_reply(outcome, rep.not_modified(), document)
        if rep.gzip_on_the_fly:
            return Reply(200, rep.head(), GzipBody(rep.fd, rep.size), document)
        return ranged(rep, request, document)

    def _representation(
        self, fd: int, st: os.stat_result, real: str, request: Request
    ) -> Representation:
        """Choose what to send for the file: a precompressed sibling, the file gzipped on
        the fly, or the file itself (RFC 9110 §12.5.3)."""
        media_type = content_type(real)
        varies = self._varies(media_type)
        caching = self._caching_fields(varies)
        accept_encoding = request.headers.get("accept-encoding")
        if varies and self.precompressed and accept_encoding is not None:
            sibling = self._precompressed_sibling(real, accept_encoding)
            if sibling is not None:
                os.close(fd)
                fd, st, real, coding = sibling
                return Representation(fd, st, real, media_type, coding, varies, caching)
        if gzip_applies(self._gzip_eligible(varies, st.st_size), request.method, request.headers):
            return Representation(
                fd, st, real, media_type, "gzip", varies, caching, on_the_fly=True
            )
        return Representation(fd, st, real, media_type, None, varies, caching)

    def _varies(self, media_type: str) -> bool:
        """Whether another Accept-Encoding could get other bytes for a file of this type:
        it is text-like and a coding is on (Vary: Accept-Encoding)."""
        return is_compressible(media_type) and (self.gzip or self.precompressed)

    def _gzip_eligible(self, varies: bool, size: int) -> bool:
        """Whether a file may be gzipped on the fly, whatever the request says."""
        return varies and self.gzip and size >= self.gzip_min_size

    def _caching_fields(self, varies: bool) -> Headers:
        """Cache-Control (as configured) and Vary, for a file response and its 304."""
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


def _serves(method: str) -> bool:
    """Whether StaticFiles serves ``method`` with a file (or a directory)."""
    return method == "GET" or method == "HEAD"


def _other_method(method: str) -> Reply:
    """OPTIONS → 204, anything else → 405 (RFC 9110 §15.5.6), both with Allow."""
    if method == "OPTIONS":
        return Reply(204, [(b"allow", ALLOW)])
    return error(405, [(b"allow", ALLOW)])


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
