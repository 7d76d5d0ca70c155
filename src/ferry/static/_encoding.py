"""Content codings: choosing a precompressed sibling, and gzip on the fly.

RFC 9110 §12.5.3: Accept-Encoding lists codings with optional weights; ``q=0`` refuses a
coding; ``*`` stands for any coding not listed. Among the siblings that exist, the one the
client weights highest wins; ties go to the smallest output (zstd, then br, then gzip).
"""

from __future__ import annotations

import zlib

from ._negotiation import weights

__all__ = ["PRECOMPRESSED", "GzipCompressor", "accepted_codings"]

# (content-coding, file suffix), in our order of preference.
PRECOMPRESSED = (("zstd", ".zst"), ("br", ".br"), ("gzip", ".gz"))


def accepted_codings(
    accept_encoding: str, available: tuple[tuple[str, str], ...] = PRECOMPRESSED
) -> list[tuple[str, str]]:
    """The ``available`` (coding, suffix) pairs the client accepts, best first."""
    codings = weights(accept_encoding)
    wildcard = codings.get("*", 0.0)
    ranked = []
    for order, (coding, suffix) in enumerate(available):
        weight = codings.get(coding, wildcard)
        if weight > 0:
            ranked.append((-weight, order, coding, suffix))
    ranked.sort()
    return [(coding, suffix) for _, _, coding, suffix in ranked]


class GzipCompressor:
    """gzip (RFC 1952) in pieces, deterministic: the header's mtime is 0, so the same file
    always gives the same bytes and a strong ETag stays honest."""

    __slots__ = ("_zlib",)

    def __init__(self, level: int = 6) -> None:
        self._zlib = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def compress(self, data: bytes) -> bytes:
        return self._zlib.compress(data)

    def flush(self) -> bytes:
        return self._zlib.flush()
