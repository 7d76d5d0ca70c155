"""From a request path to an open file under the root, refusing anything that could leave it.

Two steps, each refusing on its own:

1. ``parse_request_path`` works on the raw request target (``scope["raw_path"]``), never on a
   decoded path: each segment is percent-decoded by itself and must be strict UTF-8
   (overlong forms and encoded surrogates are invalid UTF-8), free of control characters
   (NUL among them), and must not be ``.``, ``..``, nor hold a ``/`` or ``\\`` (which only
   percent-encoding could put there). Dot-files are refused unless shown.
2. ``Root.join`` joins the segments under the root, symbolic links are resolved
   (``realpath``), and ``Root.admit`` lets the result through only if it is still under the
   root (unless symlink following was turned on) and, with dot-files hidden, holds no
   dot-file (a link inside the root may lead to one).

Refusals carry their status: 400 for a path that is not well-formed, 404 for one that is
well-formed but names nothing we serve. Neither says why, so nothing about the file system
reaches the client.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

__all__ = ["OPEN_FLAGS", "PathRefused", "RequestPath", "Root", "open_file", "parse_request_path"]

_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
# O_NONBLOCK: opening a FIFO someone left in the tree must not block the event loop.
OPEN_FLAGS |= getattr(os, "O_NONBLOCK", 0)
# errno values that mean "there is no file we could serve at this path" (ENXIO: a UNIX
# socket; ENODEV: a device without a driver).
_NOT_FOUND = frozenset(
    {errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG, errno.ENXIO, errno.ENODEV}
)


class PathRefused(Exception):
    """The request path can't name a file we serve; ``status`` is 400 or 404."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True, slots=True)
class RequestPath:
    """A request path checked by ``parse_request_path``: its decoded segments."""

    segments: tuple[str, ...]
    trailing_slash: bool


def parse_request_path(raw_path: bytes, *, show_hidden: bool) -> RequestPath:
    """Split and check a raw request path (``/a/b%20c/``). Raises PathRefused.

    Empty segments (``//``) are skipped, like nginx's merge_slashes.
    """
    if not raw_path.startswith(b"/") or _BAD_PERCENT.search(raw_path):
        raise PathRefused(400)
    parts = raw_path.split(b"/")
    segments = []
    for part in parts[1:]:
        if part:
            segments.append(_check_segment(part, show_hidden))
    return RequestPath(tuple(segments), trailing_slash=raw_path.endswith(b"/"))


def _check_segment(part: bytes, show_hidden: bool) -> str:
    try:
        name = unquote_to_bytes(part).decode("utf-8")
    except UnicodeDecodeError:
        raise PathRefused(400) from None
    if _CONTROL.search(name):
        raise PathRefused(400)
    if name in (".", "..") or "/" in name or "\\" in name:
        raise PathRefused(404)
    if name.startswith(".") and not show_hidden:
        raise PathRefused(404)
    return name


class Root:
    """The directory being served; admits resolved paths that stay inside it."""

    def __init__(
        self, directory: str | os.PathLike[str], *, follow_symlinks: bool, show_hidden: bool
    ) -> None:
        """Raises NotADirectoryError when ``directory`` is not one (fail at startup)."""
        self.path = os.path.realpath(directory)
        if not os.path.isdir(self.path):
            raise NotADirectoryError(f"static directory not found: {os.fspath(directory)!r}")
        self._prefix = self.path if self.path.endswith(os.sep) else self.path + os.sep
        self.follow_symlinks = follow_symlinks
        self.show_hidden = show_hidden

    def join(self, segments: tuple[str, ...]) -> str:
        """The path of checked ``segments`` under the root, links not yet resolved."""
        return os.path.join(self.path, *segments)

    def admit(self, real: str) -> str:
        """Return the resolved path ``real`` if it may be served. Raises PathRefused(404)
        when it is outside the root (unless following symlinks is on) or, inside, is a
        dot-file reached through a link while dot-files are hidden."""
        if real == self.path:
            return real
        if not real.startswith(self._prefix):
            if self.follow_symlinks:
                return real
            raise PathRefused(404)
        if not self.show_hidden and any(
            part.startswith(".") for part in real[len(self._prefix) :].split(os.sep)
        ):
            raise PathRefused(404)
        return real

    def allows(self, real: str) -> bool:
        """Whether ``admit`` accepts ``real``."""
        try:
            self.admit(real)
        except PathRefused:
            return False
        return True


def open_file(path: str) -> tuple[int, os.stat_result]:
    """Open ``path`` for reading: (fd, its fstat). The caller closes the fd.

    Raises PathRefused(404) when nothing is there and PermissionError (→ 403) when the
    server may not read it; other OSErrors propagate (the server answers 500).
    """
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError as exc:
        if exc.errno in _NOT_FOUND:
            raise PathRefused(404) from None
        raise
    try:
        return fd, os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
