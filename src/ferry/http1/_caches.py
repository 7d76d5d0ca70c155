"""The engine's caches: what each keeps, keyed by what, bounded how, and why it is safe.

Peers send the same few heads again and again, and applications answer with the same
few heads; parsing or rendering one costs more than finding it. Every cache of the
engine is described here:

``RequestHeadCache`` (server role)
    Request heads parsed under one ``Limits``, keyed by the head's bytes (its lines
    without the final empty line), with what they decide of the response's framing
    (``_request_head.RequestFraming``). A parse is a pure function of those bytes and the
    limits, so a head seen before is valid or not exactly as before: a cached one is
    handed out again (its ``Request`` is frozen, and shared). Only valid heads of at most
    ``MAX_HEAD`` bytes are kept; at ``MAX_ENTRIES`` the cache is emptied.

``ParsedResponseCache`` (client role)
    Response heads parsed under one ``Limits``, with what they decide of the body's
    length and the connection's reuse (``_framing.response_framing``), keyed by the
    head's bytes (its lines without the final empty line) and the two things of the
    request that decision also depends on: its method and whether it let the connection
    persist. The same reasoning as ``RequestHeadCache``: a server answers a client's
    requests with the same few heads (nginx's differ by their Date, once a second), and
    parse and framing are a pure function of the key and the limits. Only a valid final
    head (``Response``, not a 1xx) of at most ``MAX_HEAD`` bytes is kept, and handed out
    again, shared (a ``Response`` is frozen; the client copies its fields into each of
    its responses). At ``MAX_ENTRIES`` the cache is emptied.

``ResponseHeadCache`` (server role)
    Response heads validated and rendered under one ``ResponseSettings``, less their Date
    line (put in afresh for each response, ``_date.py``). ``by_value`` is keyed by
    everything that decides a head: status, version, HEAD or not, keep-alive, whether
    the request asked for the Keep-Alive field, the known body length and the fields
    themselves; fields given as lists (unhashable) are not
    kept. ``by_identity`` finds fields given as a tuple of (bytes, bytes) tuples, which
    cannot change, by the tuple's id and the same other inputs, without hashing every
    field; each entry holds its tuple, so while the entry exists no other object can take
    that id, and an entry is used only for the very tuple it holds. Each is emptied at
    ``MAX_ENTRIES``.

The render of request heads (client role, ``_render.render_request_head``) keeps the
last 256 distinct (method, target, fields, body length) in a ``functools.lru_cache``:
the same reasoning, by value, for hashable fields only.

Limits and settings are frozen and carry no cache: a connection asks for the cache of
its own ``Limits`` (``request_head_cache``) or ``ResponseSettings``
(``response_head_cache``) once, when it is made. Those are found by the object's
identity (the registry holds the object, so its id is not reused), so every connection
made with one object shares its caches, as a server's connections do, and objects that
are merely equal do not (their caches start empty). The registries are bounded: when
``MAX_OWNERS`` objects have caches, the oldest one's is dropped to make room
(connections keep the caches they hold).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ._events import InformationalResponse, Request, Response
from ._limits import Limits
from ._request_head import RequestFraming

if TYPE_CHECKING:  # _render imports this module
    from ._render import ResponseSettings

__all__ = [
    "ParsedResponse",
    "ParsedResponseCache",
    "RenderedHead",
    "RequestHeadCache",
    "ResponseHeadCache",
    "parsed_response_cache",
    "request_head_cache",
    "response_head_cache",
]

MAX_ENTRIES: Final = 256
"""Entries in one cache before it is emptied."""
MAX_HEAD: Final = 4096
"""Bytes in the longest request head kept."""
MAX_OWNERS: Final = 64
"""Limits (and ResponseSettings) objects with caches at once; past it, the oldest one's
cache is dropped (a server has one of each; tests and embedders may make many)."""

RenderedHead = tuple[bytes, bool, bytes, int, int, bool]
"""A rendered response head less its Date line: (the lines before Date, whether Date goes
in, the lines after it, Framing, length, keep-alive)."""


class RequestHeadCache:
    """Parsed request heads by their bytes (see the module docstring)."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[bytes, tuple[Request, RequestFraming]] = {}

    def get(self, head: bytes) -> tuple[Request, RequestFraming] | None:
        """The parse of ``head`` kept before, or None."""
        return self.entries.get(head)

    def put(self, head: bytes, parsed: tuple[Request, RequestFraming]) -> None:
        """Keep the parse of a valid ``head`` (unless it is too long to be worth it)."""
        if len(head) <= MAX_HEAD:
            entries = self.entries
            if len(entries) >= MAX_ENTRIES:
                entries.clear()
            entries[head] = parsed


ParsedResponse = tuple[Response | InformationalResponse, int, bool]
"""A response head parsed, with its body's length (or CHUNKED, CLOSE_DELIMITED) and
whether the connection persists after it (for a 1xx head: 0, False)."""
ResponseKey = tuple[bytes, bytes, bool]
"""(the head's bytes, the request's method, whether the request let the connection
persist)."""


class ParsedResponseCache:
    """Parsed final response heads, with their framing (see the module docstring)."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[ResponseKey, ParsedResponse] = {}

    def get(self, key: ResponseKey) -> ParsedResponse | None:
        """The parse kept before for ``key``, or None."""
        return self.entries.get(key)

    def put(self, key: ResponseKey, parsed: ParsedResponse) -> None:
        """Keep the parse of a valid head (unless it is too long to be worth it)."""
        if len(key[0]) <= MAX_HEAD:
            entries = self.entries
            if len(entries) >= MAX_ENTRIES:
                entries.clear()
            entries[key] = parsed


class ResponseHeadCache:
    """Rendered response heads, by value and by identity (see the module docstring)."""

    __slots__ = ("by_identity", "by_value")

    def __init__(self) -> None:
        self.by_value: dict[tuple[object, ...], RenderedHead] = {}
        self.by_identity: dict[tuple[object, ...], tuple[object, RenderedHead]] = {}

    def put_value(self, key: tuple[object, ...], rendered: RenderedHead) -> None:
        """Keep a head by everything that decides it."""
        entries = self.by_value
        if len(entries) >= MAX_ENTRIES:
            entries.clear()
        entries[key] = rendered

    def put_identity(self, key: tuple[object, ...], fields: object, rendered: RenderedHead) -> None:
        """Keep a head by its immutable ``fields`` tuple's id (first in ``key``), holding
        the tuple itself so that the id stays its own."""
        entries = self.by_identity
        if len(entries) >= MAX_ENTRIES:
            entries.clear()
        entries[key] = (fields, rendered)


_request_caches: dict[int, tuple[Limits, RequestHeadCache]] = {}
_response_caches: dict[int, tuple[ResponseSettings, ResponseHeadCache]] = {}
_parsed_response_caches: dict[int, tuple[Limits, ParsedResponseCache]] = {}


def request_head_cache(limits: Limits) -> RequestHeadCache:
    """The request-head cache of ``limits`` (made on first use)."""
    found = _request_caches.get(id(limits))
    if found is not None and found[0] is limits:
        return found[1]
    if len(_request_caches) >= MAX_OWNERS:
        del _request_caches[next(iter(_request_caches))]  # the oldest owner's only
    cache = RequestHeadCache()
    _request_caches[id(limits)] = (limits, cache)
    return cache


def response_head_cache(settings: ResponseSettings) -> ResponseHeadCache:
    """The response-head cache of ``settings`` (made on first use)."""
    found = _response_caches.get(id(settings))
    if found is not None and found[0] is settings:
        return found[1]
    if len(_response_caches) >= MAX_OWNERS:
        del _response_caches[next(iter(_response_caches))]  # the oldest owner's only
    cache = ResponseHeadCache()
    _response_caches[id(settings)] = (settings, cache)
    return cache


def parsed_response_cache(limits: Limits) -> ParsedResponseCache:
    """The parsed-response cache of ``limits`` (made on first use)."""
    found = _parsed_response_caches.get(id(limits))
    if found is not None and found[0] is limits:
        return found[1]
    if len(_parsed_response_caches) >= MAX_OWNERS:
        del _parsed_response_caches[next(iter(_parsed_response_caches))]  # the oldest's only
    cache = ParsedResponseCache()
    _parsed_response_caches[id(limits)] = (limits, cache)
    return cache
