"""Directory listings: the entries of one directory as an HTML page or as JSON.

Every name is escaped for HTML and percent-encoded in links. Directories come first, then
files; ``?sort=name|size|modified`` and ``?order=asc|desc`` choose the order within each.
A listing's strong ETag (``listing_etag``) is computed from what the page is made of, so a
304 needs no page rendered.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, quote

from ._negotiation import weights

__all__ = [
    "Entry",
    "SortOrder",
    "listing_etag",
    "read_entries",
    "render_html",
    "render_json",
    "wants_json",
]


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    is_dir: bool
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class SortOrder:
    key: str = "name"
    descending: bool = False

    @classmethod
    def from_query(cls, query_string: bytes) -> SortOrder:
        """Read ``sort`` and ``order``; anything unknown means name, ascending."""
        query = parse_qs(query_string.decode("latin-1"))
        key = query.get("sort", ["name"])[0]
        order = query.get("order", ["asc"])[0]
        return cls(key if key in _SORT_KEYS else "name", order == "desc")


_SORT_KEYS: dict[str, Callable[[Entry], tuple[float | str, str]]] = {
    "name": lambda e: (e.name.casefold(), e.name),
    "size": lambda e: (e.size, e.name),
    "modified": lambda e: (e.mtime, e.name),
}


def read_entries(
    directory: str, *, show_hidden: bool, allowed: Callable[[str], bool]
) -> list[Entry]:
    """The entries of ``directory``: without dot-files unless shown, without entries whose
    resolved path ``allowed`` refuses (links out of the root), without broken links."""
    entries = []
    with os.scandir(directory) as scan:
        for item in scan:
            if item.name.startswith(".") and not show_hidden:
                continue
            if item.is_symlink() and not allowed(os.path.realpath(item.path)):
                continue
            try:
                st = item.stat()
                is_dir = item.is_dir()
            except OSError:
                continue
            entries.append(Entry(item.name, is_dir, 0 if is_dir else st.st_size, st.st_mtime))
    return entries


def sort_entries(entries: list[Entry], order: SortOrder) -> list[Entry]:
    key = _SORT_KEYS[order.key]
    ordered = sorted(entries, key=key, reverse=order.descending)
    return [e for e in ordered if e.is_dir] + [e for e in ordered if not e.is_dir]


def listing_etag(url_path: str, entries: list[Entry], order: SortOrder, media_type: bytes) -> str:
    """A strong entity-tag (RFC 9110 §8.8.3) for the listing of ``entries`` at ``url_path``
    in ``order``, rendered as ``media_type``: a hash over everything the page is made of
    (each entry's name, type, size and mtime, the page's format), so two listings with the
    same tag are the same bytes, and adding, removing, resizing or touching an entry
    changes it."""
    digest = hashlib.blake2b(_FORMAT, digest_size=16)
    digest.update(
        b"%s\0%s\0%s\0%d\0"
        % (
            media_type,
            url_path.encode("utf-8", "surrogateescape"),
            order.key.encode(),
            order.descending,
        )
    )
    for e in sorted(entries, key=lambda e: e.name):
        digest.update(
            b"%s\0%d\0%d\0%r\0"
            % (e.name.encode("utf-8", "surrogateescape"), e.is_dir, e.size, e.mtime)
        )
    return f'"{digest.hexdigest()}"'


def wants_json(accept: str) -> bool:
    """Whether an Accept value prefers application/json to text/html (RFC 9110 §12.5.1)."""
    media = weights(accept)
    json_weight = media.get("application/json", 0.0)
    html_weight = media.get("text/html", media.get("text/*", media.get("*/*", 0.0)))
    return json_weight > 0 and json_weight > html_weight


def render_json(url_path: str, entries: list[Entry], order: SortOrder) -> bytes:
    listing = {
        "path": url_path,
        "entries": [
            {
                "name": e.name,
                "type": "directory" if e.is_dir else "file",
                "size": None if e.is_dir else e.size,
                "modified": _iso8601(e.mtime),
            }
            for e in sort_entries(entries, order)
        ],
    }
    return json.dumps(listing, ensure_ascii=False).encode()


def _iso8601(mtime: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime))


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Index of {title}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 60rem;
  padding: 1rem; color: #1d2330; }}
h1 {{ font-size: 1.25rem; overflow-wrap: anywhere; }}
table {{ width: 100%; border-collapse: collapse; }}
th, td {{ padding: .4rem .5rem; border-bottom: 1px solid #e3e6ec; text-align: left; }}
td.name {{ overflow-wrap: anywhere; }}
td.size, th.size {{ text-align: right; white-space: nowrap; }}
td.modified {{ white-space: nowrap; color: #5b6478; }}
a {{ color: #1f5fbf; text-decoration: none; }}
@media (max-width: 32rem) {{ .modified {{ display: none; }} }}
</style>
</head>
<body>
<h1>Index of {title}</h1>
<table>
<thead><tr>{headings}</tr></thead>
<tbody>
{rows}</tbody>
</table>
</body>
</html>
"""

_HEADINGS = (("name", "Name"), ("size", "Size"), ("modified", "Modified"))

# What the pages are made from besides the entries: a change to the template changes every
# listing's ETag. (Bump the version when the rendering code changes.)
_FORMAT = b"ferry-listing/1\0" + hashlib.blake2b(_PAGE.encode(), digest_size=16).digest()


def render_html(url_path: str, entries: list[Entry], order: SortOrder) -> bytes:
    """The listing page for ``url_path`` (the decoded request path, ending in ``/``)."""
    rows = []
    if url_path != "/":
        rows.append('<tr><td class="name"><a href="../">../</a></td><td></td><td></td></tr>\n')
    for e in sort_entries(entries, order):
        rows.append(_row(e))
    page = _PAGE.format(
        title=html.escape(url_path),
        headings="".join(_heading(key, label, order) for key, label in _HEADINGS),
        rows="".join(rows),
    )
    return page.encode()


def _heading(key: str, label: str, order: SortOrder) -> str:
    # Clicking the current column flips its order; another column starts ascending.
    descending = order.key == key and not order.descending
    href = f"?sort={key}&amp;order={'desc' if descending else 'asc'}"
    return f'<th class="{key}"><a href="{href}">{label}</a></th>'


def _row(e: Entry) -> str:
    name = e.name + "/" if e.is_dir else e.name
    href = html.escape(quote(name), quote=True)
    size = "" if e.is_dir else _human_size(e.size)
    modified = time.strftime("%Y-%m-%d %H:%M", time.gmtime(e.mtime))
    return (
        f'<tr><td class="name"><a href="{href}">{html.escape(name)}</a></td>'
        f'<td class="size">{size}</td><td class="modified">{modified}</td></tr>\n'
    )


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value, unit = size / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"
