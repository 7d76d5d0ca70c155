"""What the clients' httpx-style arguments turn into, without I/O: ``timeout=`` as
``Timeouts``, ``base_url=`` and ``params=`` as the URL, ``auth=`` as a field, ``json=``,
``data=``, ``files=`` and ``content=`` as the body and its Content-Type."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit

from .._errors import LocalProtocolError
from ..http1 import Headers
from ._models import Body, Timeouts, basic_credentials
from ._multipart import FieldsInput, FilesInput, encode_multipart

__all__ = [
    "USE_CLIENT_DEFAULT",
    "AuthInput",
    "QueryInput",
    "TimeoutInput",
    "UseClientDefault",
    "basic_auth_field",
    "encode_body",
    "encode_query",
    "join_url",
    "timeouts_from",
    "with_query",
]

TimeoutInput = float | Timeouts | None
"""``timeout=``: seconds for every step (connect, read, write, pool), ``Timeouts`` for
each its own, or None for no limit at all (as httpx)."""
QueryInput = Mapping[str, Any] | Sequence[tuple[str, Any]] | str | None
"""``params=``: a mapping or pairs (a list or tuple value repeats the name; None, True
and False become "", "true" and "false", as httpx sends them), or a query string."""
AuthInput = tuple[str, str] | None
"""``auth=(user, password)``: HTTP Basic (RFC 7617)."""


class UseClientDefault:
    """The type of ``USE_CLIENT_DEFAULT``: an argument left out, as opposed to None."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT: Final = UseClientDefault()


def timeouts_from(value: TimeoutInput) -> Timeouts:
    """``timeout=`` as ``Timeouts``."""
    if isinstance(value, Timeouts):
        return value
    if value is not None and not isinstance(value, int | float):
        raise TypeError(f"timeout must be seconds, Timeouts or None, not {value!r}")
    return Timeouts(connect=value, read=value, write=value, pool=value)


def join_url(base_url: str, url: str) -> str:
    """``url`` against the client's ``base_url``, as httpx does: an absolute URL is left
    alone; otherwise its path is appended to the base's path (``base_url="http://h/api"``
    and ``"users"`` or ``"/users"`` give ``http://h/api/users``), its query kept."""
    if "://" in url:
        return url
    base = urlsplit(base_url)
    path, _, query = url.partition("?")
    joined = base.path.rstrip("/") + "/" + path.lstrip("/")
    return base._replace(path=joined, query=query, fragment="").geturl()


def encode_query(params: QueryInput) -> str:
    """``params`` as a query string, percent-encoded (a space as %20, as httpx sends it)."""
    if not params:
        return ""
    if isinstance(params, str):
        return params
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    flat = [
        (name, _query_value(item))
        for name, value in pairs
        for item in (value if isinstance(value, list | tuple) else [value])
    ]
    return urlencode(flat, quote_via=quote)


def _query_value(value: object) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def with_query(url: str, query: str) -> str:
    """``url`` with ``query`` appended to its own query (a fragment is dropped)."""
    if not query:
        return url
    url = url.partition("#")[0]
    return url + ("&" if "?" in url else "?") + query


def encode_body(
    content: Body,
    data: Mapping[str, Any] | bytes | str | None,
    files: FilesInput | None,
    json: Any,
) -> tuple[Headers, Body]:
    """The body the arguments name, and the header fields that describe it: Content-Type
    (and Content-Length for a multipart body whose size is known). One kind at a time:
    ``content``, ``data`` (a mapping, form-encoded; with ``files``, the plain fields of
    the multipart body; bytes or str: the body as is), ``files`` (multipart/form-data)
    or ``json`` (UTF-8, as RFC 8259 §8.1 requires). Raises LocalProtocolError for more
    than one."""
    form = isinstance(data, Mapping)
    given = [content is not None, data is not None and not form, files is not None]
    if sum(given) + (json is not None) + (form and files is None) > 1:
        raise LocalProtocolError("give one body: content=, data=, files= or json=")
    if files is not None:
        fields: FieldsInput | None = data if isinstance(data, Mapping) else None
        multipart = encode_multipart(fields, files)
        headers: Headers = [(b"Content-Type", multipart.content_type)]
        if multipart.length is not None:
            headers.append((b"Content-Length", b"%d" % multipart.length))
        return headers, multipart
    if json is not None:
        text = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return [(b"Content-Type", b"application/json")], text.encode("utf-8")
    if isinstance(data, Mapping):
        form_body = encode_query(data).replace("%20", "+")  # HTML's form encoding
        return [(b"Content-Type", b"application/x-www-form-urlencoded")], form_body.encode()
    return [], content if content is not None else data


def basic_auth_field(auth: tuple[str, str]) -> tuple[bytes, bytes]:
    """``auth=(user, password)`` as an Authorization field."""
    user, password = auth
    return (b"Authorization", basic_credentials(user, password))
