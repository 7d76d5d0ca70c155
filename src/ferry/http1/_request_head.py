"""Parse a request head (request line + field lines) in one pass over a buffer.

Every rule below cites the sentence of RFC 9110 / RFC 9112 it applies. Choices the RFCs
leave open are listed in docs/rfc-choices.md.
"""

from __future__ import annotations

import re

from . import _abnf
from ._events import Headers, Request
from ._fields import bad, parse_field_block
from ._framing import advertises_keep_alive, connection_options, keep_alive, request_body_length
from ._limits import Limits
from ._scan import HeadGrammar

__all__ = [
    "REQUEST_HEAD",
    "RequestFraming",
    "check_partial_request_line",
    "check_request_line",
    "parse_request_head",
]

RequestFraming = tuple[int, bool, bool]
"""What the head says of the message after it and of its response: (body length, 0 for
none, or ``_framing.CHUNKED``; whether the client lets the connection persist; whether a
response that keeps it open says ``Keep-Alive: timeout=N``, ``advertises_keep_alive``)."""

# RFC 9112 §3: request-line = method SP request-target SP HTTP-version. Every prefix of
# a line we would accept matches. The version is left to the parse of the whole line:
# bytes that follow an Upgrade request we ignore ("Hot diggity dogg") must wait as an
# incomplete next request, not be refused before the line ends (corpus README §4).
_request_line_prefix_re = re.compile(
    _abnf.prefixes(rb"[" + _abnf.TCHAR + rb"]+", rb" ", rb"[\x21-\x7e]+", rb" ", rb"[\x21-\x7e]+")
)


def check_request_line(line: bytes, limits: Limits) -> None:
    """Raise RemoteProtocolError (400, 414 or 505) unless ``line`` (without its CRLF)
    is a request line we accept: the first-line check of an incomplete request head."""
    if len(line) > limits.max_request_line:
        raise bad("request line too long", 414)
    method, target, _ = _parse_request_line(line)
    _target_parts(method, target)


def check_partial_request_line(line: bytes, limits: Limits) -> None:
    """Raise RemoteProtocolError (400 or 414) if no continuation of ``line``, the start
    of a request line, can be a request line we accept."""
    if len(line) > limits.max_request_line:
        raise bad("request line too long", 414)
    if _request_line_prefix_re.fullmatch(line) is None:
        raise bad("malformed request line")


REQUEST_HEAD = HeadGrammar(
    check_request_line,
    check_partial_request_line,
    line_breaks_first=False,
    bare_message="bare CR or LF in request head",
    fold_message="obsolete line folding in header section",
    ctl_message="control character in header field",
)
"""How ``HeadScan`` checks an incomplete request head."""


def _parse_request_line(line: bytes) -> tuple[bytes, bytes, str]:
    """Return (method, target, http_version) from a request line (RFC 9112 §3)."""
    match = _abnf.request_line_re.fullmatch(line)
    if match is None:
        tail = _abnf.http_version_tail_re.search(line)
        if tail is not None and int(tail.group(1)) >= 2:
            # RFC 9110 §15.6.6: 505 for a major version we do not support.
            raise bad("HTTP major version not supported", 505)
        raise bad("malformed request line")
    method, target, major, minor = match.groups(b"")
    if major != b"1":
        # RFC 9110 §2.5: a different major version is a different protocol.
        raise bad("HTTP major version not supported", 505 if major > b"1" else 400)
    # RFC 9110 §2.5: a higher minor version of 1.x is handled as the highest we support.
    return method, target, "1.0" if minor == b"0" else "1.1"


def _target_parts(method: bytes, target: bytes) -> tuple[bytes, bytes, bytes | None]:
    """Split a request-target into (path, query, authority or None) per RFC 9112 §3.2."""
    first = target[:1]
    if first == b"/":
        # §3.2.1 origin-form; RFC 9110 §4.1 forbids a fragment, and RFC 3986 the rest.
        if _abnf.origin_form_re.fullmatch(target) is None:
            raise bad("invalid character in request target")
        path, _, query = target.partition(b"?")
        return path, query, None
    if target == b"*":
        # §3.2.4: asterisk-form is only for a server-wide OPTIONS.
        if method != b"OPTIONS":
            raise bad("asterisk-form request target is only allowed with OPTIONS")
        return b"*", b"", None
    if method == b"CONNECT":
        # §3.2.3: CONNECT takes authority-form, and only it.
        if _abnf.authority_form_re.fullmatch(target) is None:
            raise bad("CONNECT needs an authority-form target (host:port)")
        return b"", b"", target
    match = _abnf.absolute_form_re.fullmatch(target)
    if match is None:
        raise bad("invalid request target")
    # §3.2.2: absolute-form; its authority wins over the Host field (§3.2.2, last para).
    # RFC 9110 §4.2.4: userinfo is deprecated in http(s) URIs: HOST cannot contain "@".
    scheme, authority, path, query = match.groups(b"")
    if scheme.lower() not in (b"http", b"https"):
        raise bad("request target is not an http or https URI")  # not ours to serve
    if authority[:1] in (b"", b":"):
        # RFC 9110 §4.2.1, §4.2.2: an http(s) URI with an empty host MUST be rejected.
        raise bad("empty host in request target")
    return path or b"/", query or b"", authority


def parse_request_head(head: bytes, limits: Limits) -> tuple[Request, RequestFraming]:
    """Parse ``request-line CRLF *(field-line CRLF)`` (the final empty line excluded).

    ``head`` must contain the request line's CRLF. Raises RemoteProtocolError with the
    status the error maps to.
    """
    match = _abnf.fast_request_line_re.match(head)
    if match is not None and match.end() - 2 <= limits.max_request_line:
        # The common case: HTTP/1.x, origin-form, no percent-encoding (§3.2.1).
        method, path, query, minor = match.groups(b"")
        version = "1.0" if minor == b"0" else "1.1"
        target = head[len(method) + 1 : match.end() - 11]
        authority = None
        headers = parse_field_block(head, limits, match.end())
    else:
        line_end = head.find(b"\r\n")
        if line_end > limits.max_request_line:
            raise bad("request line too long", 414)
        method, target, version = _parse_request_line(head[:line_end])
        path, query, authority = _target_parts(method, target)
        headers = parse_field_block(head, limits, line_end + 2)

    fields = dict(headers)
    if len(fields) == len(headers):  # no field name repeats: read them straight off
        host = fields.get(b"host")
        hosts = [] if host is None else [host]
        length = fields.get(b"content-length")
        lengths = [] if length is None else [length]
        coding = fields.get(b"transfer-encoding")
        codings = [] if coding is None else [coding]
        connection = fields.get(b"connection")
        expect = fields.get(b"expect")
    else:
        hosts, lengths, codings, connections, expects = _collect(headers)
        connection = b",".join(connections) if connections else None
        expect = b",".join(expects) if expects else None

    host = _check_host(hosts, version, authority)
    body_length = request_body_length(lengths, codings, version, limits)

    upgrade = None
    options = None if connection is None else connection_options(connection)
    persists = keep_alive(version, options)
    if (
        options is not None
        and b"upgrade" in options
        and method == b"GET"
        and version == "1.1"
        and not body_length
    ):
        # RFC 9110 §7.8: Upgrade must be listed in Connection to count. We only offer
        # it to a bodiless GET, the one shape an upgrade to WebSocket takes (RFC 6455
        # §4.1); the server decides whether to take it up (``send_switching_protocols``).
        upgrade = _upgrade_field(headers)

    expect_continue = False
    if expect is not None:
        # RFC 9110 §10.1.1: 100-continue is the only expectation defined; any other → 417.
        # An HTTP/1.0 client's 100-continue MUST be ignored.
        if expect.lower() != b"100-continue":
            raise bad("unsupported expectation", 417)
        expect_continue = version == "1.1" and body_length != 0

    request = Request(method, target, version, headers, path, query, host, expect_continue, upgrade)
    return request, (body_length, persists, advertises_keep_alive(options))


def _upgrade_field(headers: Headers) -> bytes | None:
    """The Upgrade field's value, lower-cased (its fields joined), or None without one."""
    values = [value for name, value in headers if name == b"upgrade"]
    return b", ".join(values).lower() if values else None


def _collect(headers: Headers) -> tuple[list[bytes], ...]:
    """The values of the fields that decide framing, when some field name repeats."""
    hosts: list[bytes] = []
    lengths: list[bytes] = []
    codings: list[bytes] = []
    connection: list[bytes] = []
    expect: list[bytes] = []
    wanted = {
        b"host": hosts,
        b"content-length": lengths,
        b"transfer-encoding": codings,
        b"connection": connection,
        b"expect": expect,
    }
    types = 0
    for name, value in headers:
        values = wanted.get(name)
        if values is not None:
            values.append(value)
        elif name == b"content-type":
            types += 1
    if types > 1:
        # RFC 9110 §5.3: a sender MUST NOT repeat a field that is not a list, and
        # Content-Type (§8.3) is not one; two could have the body read two ways. We refuse
        # it, as gunicorn does (docs/rfc-choices.md).
        raise bad("more than one Content-Type header field")
    return hosts, lengths, codings, connection, expect


def _check_host(hosts: list[bytes], version: str, authority: bytes | None) -> bytes:
    # RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request that lacks Host,
    # or has more than one, or whose Host is invalid.
    if len(hosts) > 1:
        raise bad("more than one Host header field")
    if not hosts:
        if version == "1.1":
            raise bad("missing Host header field")
        return authority or b""
    if authority is None and _abnf.plain_host_re.fullmatch(hosts[0]) is not None:
        return hosts[0]  # the common case: a valid, non-empty host[:port]
    match = _abnf.host_re.fullmatch(hosts[0])
    if match is None:
        raise bad("invalid Host header field")
    if authority is not None:
        return authority  # §3.2.2: the target's authority wins; Host is ignored.
    if not match.group(1):
        # RFC 9110 §4.2.1: an http URI with an empty host MUST be rejected as invalid.
        raise bad("empty Host header field")
    return hosts[0]
