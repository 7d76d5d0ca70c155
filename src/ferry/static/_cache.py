"""The one cache of static files: what a raw request path resolved to, kept so that a
repeated request costs one ``stat``.

What is cached, keyed by what, and why it is safe:

- ``FileCache``, one per ``StaticFiles``: raw request path (bytes, as sent, without the
  ``root_path``) → ``FileEntry``, at most ``max_entries`` (1,024) entries and
  ``max_body_bytes`` (16 MiB) of file bytes, the least recently used going first.
- In each entry: the path joined under the root, the file's identity, the 200's and the
  304's fields, for a file of up to 64 KiB its bytes, and for a small text file its gzip
  variant (``GzipVariant``: validator, fields, and the body messages once made).
- The fields are tuples of ``(bytes, bytes)`` tuples, made once per entry: the engine's
  response-head cache finds a tuple's rendering by the tuple's identity
  (``ResponseHeadCache.by_identity`` in ``http1/_caches.py``), so a cached file's head is
  rendered once, not per request. A tuple of bytes can't change, and the engine keeps the
  tuple beside its rendering, so the identity can't be reused for other fields while the
  rendering lives.
- ``FileEntry.checked_turn``: the event loop's turn in which its path was last found
  unchanged (``FileCache.unchanged``): one ``stat`` per entry and turn.

An entry is used only while its file is unchanged. The first request for a file takes the
full route (path checks, ``realpath``, the containment check, open, fstat) and leaves the
entry. A later request for the same raw path stats the joined path (following links, as
``open`` would) and uses the entry only if the identity is unchanged:

- ``(st_ino, st_dev, st_size, st_mtime_ns, st_ctime_ns)``: a rewrite changes the mtime and
  ctime, so an edited file is never served stale (to the timestamp's granularity: the
  same condition under which the strong ETag stays honest); a rename, a new link, a
  ``chmod`` change the ctime.
- a path whose file, or any directory on the way, was replaced by a symlink that leads
  elsewhere reaches another inode: the entry is dropped and the full route runs again,
  refusing what leaves the root. The inode an entry names was admitted when it was made.
- a precompressed sibling made later changes its directory's identity, which the entry
  holds (``siblings_absent_in``) when none existed.

A file changed less than ``settle_ns`` (2 s) before it would be cached is not cached yet:
its next change could fall in the same tick of a coarse file-system clock and keep the
identity (git's "racily clean" files). The ctime is the one to watch: every change sets it,
and ``utime`` can't set it back.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ._encoding import PRECOMPRESSED
from ._files import OPEN_FLAGS

__all__ = [
    "SMALL_FILE",
    "FileCache",
    "FileEntry",
    "FrozenHeaders",
    "GzipVariant",
    "Identity",
    "identity_of",
    "open_whole",
    "read_small",
    "siblings_absent_in",
    "unchanged",
]

# A cached response's fields: a tuple, which the engine finds its rendered head by.
FrozenHeaders = tuple[tuple[bytes, bytes], ...]
Identity = tuple[int, int, int, int, int]
Pieces = tuple[bytes, ...]

_OPEN_FLAGS: Final = OPEN_FLAGS
SMALL_FILE = 64 * 1024  # files up to this size are kept in memory


def identity_of(st: os.stat_result) -> Identity:
    """What must not change for a cached file (or directory) to still be the one cached."""
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(slots=True, eq=False)
class GzipVariant:
    """A small text file gzipped on the fly: its validator and fields, and (once a client
    asked for it) the body messages ``BodyWriter.send_gzip`` would send."""

    etag: str
    head: FrozenHeaders
    not_modified: FrozenHeaders
    pieces: Pieces | None = None


@dataclass(slots=True, eq=False)
class FileEntry:
    """A regular file reached by one raw request path, as of ``identity``.

    ``head`` is the 200's fields for the whole identity representation (no Date nor
    Server-Timing); ``not_modified`` the 304's. ``body`` holds the bytes of a small file.
    ``negotiated`` says Accept-Encoding could change what is sent: the entry then serves
    such a request only while ``siblings_absent_in`` (the identity of the directory in
    which no precompressed sibling existed) is unchanged; ``gzip`` is what gzip on the
    fly sends, for a small file that qualifies (a larger one takes the full route).
    """

    path: str  # joined under the root, links unresolved: stat'ed on every request
    real: str  # the resolved path (pathsend; precompressed siblings)
    identity: Identity
    etag: str
    mtime: int  # Last-Modified, seconds
    head: FrozenHeaders
    not_modified: FrozenHeaders
    body: bytes | None
    document: bool  # an HTML page (it gets Server-Timing)
    negotiated: bool
    gzip_eligible: bool
    siblings_absent_in: tuple[str, Identity] | None
    gzip: GzipVariant | None = None
    checked_turn: int = -1  # FileCache.turn when its path was last found unchanged

    @property
    def size(self) -> int:
        return self.identity[2]


class FileCache:
    """A bounded LRU map from raw request paths to ``FileEntry``."""

    __slots__ = (
        "_entries",
        "_turn_ends",
        "body_bytes",
        "max_body_bytes",
        "max_entries",
        "settle_ns",
        "turn",
    )

    def __init__(self, max_entries: int = 1024, max_body_bytes: int = 16 << 20) -> None:
        self._entries: OrderedDict[bytes, FileEntry] = OrderedDict()
        self.max_entries = max_entries
        self.max_body_bytes = max_body_bytes
        self.body_bytes = 0  # held in entries' bodies and gzip pieces
        self.settle_ns = 2_000_000_000
        self.turn = 0  # counts the event loop's turns in which an entry was checked
        self._turn_ends = False  # _end_turn is scheduled

    def unchanged(self, entry: FileEntry) -> bool:
        """Whether the entry's path still leads to the file it was made from: one
        ``stat`` per entry and turn of the event loop.

        The requests handled in one turn were read from the sockets in one go, and are
        all answered with the file as one ``stat`` found it during that turn (nginx,
        likewise, reads its clock once per turn): a change made while the turn runs is
        missed for its rest, microseconds. The next turn looks again.
        """
        if entry.checked_turn == self.turn:
            return True
        if not unchanged(entry):
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside a loop: no turn to share the result
            return True
        entry.checked_turn = self.turn
        if not self._turn_ends:
            self._turn_ends = True
            loop.call_soon(self._end_turn)
        return True

    def _end_turn(self) -> None:
        self.turn += 1
        self._turn_ends = False

    def settled(self, st: os.stat_result) -> bool:
        """Whether the file ``st`` describes last changed long enough ago to be cached."""
        return time.time_ns() - st.st_ctime_ns >= self.settle_ns

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: bytes) -> bool:
        return key in self._entries

    def get(self, key: bytes) -> FileEntry | None:
        """The entry for ``key``, if any, counted as a use (a request for the path)."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: bytes, entry: FileEntry) -> None:
        """Remember ``entry`` for ``key``; evict the least recently used to stay bounded.
        An entry whose body alone exceeds the byte budget keeps no body."""
        if entry.body is not None and len(entry.body) > self.max_body_bytes:
            entry.body = None
        self.discard(key)
        self._entries[key] = entry
        self.body_bytes += _weight(entry)
        self._evict()

    def gzipped(self, key: bytes, variant: GzipVariant, make: Callable[[], Pieces]) -> Pieces:
        """The pieces of ``variant`` (of the entry cached for ``key``), made with ``make``
        the first time, and then counted in the byte budget."""
        if variant.pieces is None:
            variant.pieces = make()
            entry = self._entries.get(key)
            if entry is not None and entry.gzip is variant:
                self.body_bytes += sum(map(len, variant.pieces))
                self._evict()
        return variant.pieces

    def discard(self, key: bytes) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.body_bytes -= _weight(entry)

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries or self.body_bytes > self.max_body_bytes:
            self.discard(next(iter(self._entries)))


def _weight(entry: FileEntry) -> int:
    """The bytes of file content ``entry`` holds."""
    weight = 0 if entry.body is None else len(entry.body)
    if entry.gzip is not None and entry.gzip.pieces is not None:
        weight += sum(map(len, entry.gzip.pieces))
    return weight


def unchanged(entry: FileEntry) -> bool:
    """Whether the entry's path still leads to the file it was made from."""
    try:
        return identity_of(os.stat(entry.path)) == entry.identity
    except OSError:
        return False


def open_whole(entry: FileEntry) -> tuple[int, int] | None:
    """(descriptor, size) of ``entry``'s file, opened, if its path still leads to the same
    file (same identity: inode, device, size, times); else None. The caller closes it."""
    try:
        fd = os.open(entry.path, _OPEN_FLAGS)
    except OSError:  # gone, or no longer readable: the full route says which
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if identity_of(st) != entry.identity:
        os.close(fd)
        return None
    return fd, st.st_size


def read_small(fd: int, st: os.stat_result) -> bytes | None:
    """The bytes of a small file (None for a larger one, or one that changed while read)."""
    if st.st_size > SMALL_FILE:
        return None
    data = os.pread(fd, st.st_size + 1, 0)
    if len(data) != st.st_size or identity_of(os.fstat(fd)) != identity_of(st):
        return None
    return data


def siblings_absent_in(real: str) -> tuple[str, Identity] | None:
    """(directory, its identity) when no precompressed sibling of ``real`` exists, not
    even as a dangling link: while the directory is unchanged, none can appear."""
    directory = os.path.dirname(real)
    identity = identity_of(os.stat(directory))  # first: a sibling made after changes it
    if any(os.path.lexists(real + suffix) for _, suffix in PRECOMPRESSED):
        return None
    return directory, identity
