"""Content-Type from a file name, and which types are worth compressing.

The table is Python's built-in one (``mimetypes.MimeTypes()`` without the system's
``mime.types`` files), so a response does not change with the machine it is served from,
plus the types the web uses today that it lacks or names in an older way.
"""

from __future__ import annotations

import mimetypes
import os

__all__ = ["content_type", "is_compressible"]

_EXTRA = {
    # RFC 9239: JavaScript is text/javascript; application/javascript is obsolete.
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".md": "text/markdown",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".webmanifest": "application/manifest+json",
    # A compressed file asked for by its own name is the compressed bytes themselves
    # (no Content-Encoding): RFC 6713 application/gzip, RFC 8878 application/zstd.
    ".gz": "application/gzip",
    ".br": "application/x-brotli",
    ".zst": "application/zstd",
}

_TYPES: dict[str, str] = {**mimetypes.MimeTypes().types_map[True], **_EXTRA}
_DEFAULT = "application/octet-stream"

# Types whose text is UTF-8 on any site built today; the charset saves the browser a guess.
_UTF8_APPLICATION = frozenset({"application/json", "application/xml", "application/javascript"})
_COMPRESSIBLE_APPLICATION = _UTF8_APPLICATION | {"application/wasm", "image/svg+xml"}


def content_type(name: str) -> str:
    """The Content-Type field value for a file called ``name`` (by its last extension)."""
    media_type = _TYPES.get(os.path.splitext(name)[1].lower(), _DEFAULT)
    if media_type.startswith("text/") or media_type in _UTF8_APPLICATION:
        return media_type + "; charset=utf-8"
    return media_type


def is_compressible(media_type: str) -> bool:
    """Whether a Content-Type names text-like content that gzip shrinks well."""
    essence = media_type.partition(";")[0]
    return (
        essence.startswith("text/")
        or essence in _COMPRESSIBLE_APPLICATION
        or essence.endswith(("+json", "+xml"))
    )
