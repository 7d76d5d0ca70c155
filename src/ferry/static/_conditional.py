"""Validators (ETag, Last-Modified) and conditional requests, RFC 9110 §8.8 and §13.

The ETag comes from the file's identity and change time (inode, size, mtime in ns), so it
costs one fstat and no reading. It is strong: two files with the same three values are
taken to hold the same bytes, as nginx and Apache do.
"""

from __future__ import annotations

import datetime
import email.utils
import enum
import os
import re

__all__ = [
    "Precondition",
    "etag_for",
    "evaluate_preconditions",
    "http_date",
    "if_range_matches",
    "parse_http_date",
]

_ENTITY_TAG = re.compile(r'(W/)?("[\x21\x23-\x7e\x80-\xff]*")')


class Precondition(enum.Enum):
    """The outcome of RFC 9110 §13.2.2 for a GET or HEAD."""

    PROCEED = 200
    NOT_MODIFIED = 304
    FAILED = 412


def etag_for(st: os.stat_result, suffix: str = "") -> str:
    """A strong entity-tag for the file ``st`` describes (``suffix`` names a coding)."""
    return f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}{suffix}"'


def http_date(seconds: float) -> str:
    """An IMF-fixdate (RFC 9110 §5.6.7), e.g. ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    return email.utils.formatdate(seconds, usegmt=True)


def parse_http_date(value: str) -> int | None:
    """Seconds since the epoch for any of the three HTTP-date forms; None if invalid."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # "-0000": UTC without a claim about the local zone
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return int(parsed.timestamp())


def _tags(value: str) -> list[tuple[bool, str]]:
    """(weak, opaque-tag) for each entity-tag in a list (RFC 9110 §8.8.3)."""
    return [(bool(weak), tag) for weak, tag in _ENTITY_TAG.findall(value)]


def _strong_match(value: str, etag: str) -> bool:
    # RFC 9110 §13.1.1: If-Match uses the strong comparison; "*" matches any current file.
    if value.strip() == "*":
        return True
    return any(not weak and tag == etag for weak, tag in _tags(value))


def _weak_match(value: str, etag: str) -> bool:
    # RFC 9110 §13.1.2: If-None-Match uses the weak comparison.
    if value.strip() == "*":
        return True
    return any(tag == etag for _weak, tag in _tags(value))


def evaluate_preconditions(headers: dict[str, str], etag: str, mtime: int | None) -> Precondition:
    """RFC 9110 §13.2.2 steps 1-4 for a GET or HEAD of an existing file (or listing).

    ``headers`` maps lower-case names to (comma-joined) values; ``mtime`` is the
    Last-Modified time in whole seconds, None for a representation without one (a
    listing): its date preconditions are then ignored (§13.1.3, §13.1.4). Range and
    If-Range (step 5) are the caller's.
    """
    if_match = headers.get("if-match")
    if if_match is not None:
        # Step 1: If-Match false → 412.
        if not _strong_match(if_match, etag):
            return Precondition.FAILED
    else:
        # Step 2: only without If-Match; an invalid date is ignored (§13.1.4).
        since = _date_header(headers, "if-unmodified-since")
        if since is not None and mtime is not None and mtime > since:
            return Precondition.FAILED
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        # Step 3: If-None-Match true → 304 for GET/HEAD (we serve no other method).
        if _weak_match(if_none_match, etag):
            return Precondition.NOT_MODIFIED
        return Precondition.PROCEED
    # Step 4: If-Modified-Since only without If-None-Match.
    since = _date_header(headers, "if-modified-since")
    if since is not None and mtime is not None and mtime <= since:
        return Precondition.NOT_MODIFIED
    return Precondition.PROCEED


def _date_header(headers: dict[str, str], name: str) -> int | None:
    value = headers.get(name)
    return None if value is None else parse_http_date(value)


def if_range_matches(value: str, etag: str, mtime: int) -> bool:
    """RFC 9110 §13.1.5: whether If-Range lets the Range apply.

    An entity-tag must match strongly (a weak one never does); a date must equal
    Last-Modified exactly.
    """
    value = value.strip()
    if value.startswith("W/"):
        return False
    if value.startswith('"'):
        return value == etag
    date = parse_http_date(value)
    return date is not None and date == mtime
