"""Size limits the engine enforces on what the peer sends."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on a peer's message. Every limit maps to the status it is answered with.

    (The request heads parsed under a limits object are cached apart from it:
    ``_caches.request_head_cache``.)"""

    max_request_line: int = 8190
    """Bytes in the request line (414 when exceeded). nginx's default is 8k."""
    max_head_size: int = 65536
    """Bytes in the whole head, request line included (431 when exceeded)."""
    max_header_count: int = 100
    """Number of header fields (431 when exceeded)."""
    max_body_size: int | None = 1 << 30
    """Bytes in a request body, after removing chunked framing (413); None: no limit."""
    max_chunk_line: int = 4096
    """Bytes in one chunk-size line with its extensions (400 when exceeded)."""
    max_trailer_size: int = 16384
    """Bytes in a chunked message's trailer section (431 when exceeded)."""
    max_leading_empty_lines: int = 2
    """Empty lines tolerated before a request line (RFC 9112 §2.2: SHOULD ignore one)."""
