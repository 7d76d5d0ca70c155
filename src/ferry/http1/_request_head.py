"""Parse a request head (request line + field lines) in one pass over a buffer.

Every rule below cites the sentence of RFC 9110 / RFC 9112 it applies. Choices the RFCs
leave open are listed in docs/rfc-choices.md.
"""

from __future__ import annotations

from .._errors import RemoteProtocolError
from . import _abnf
from ._events import Headers, Request
from ._limits import Limits

__all__ = ["CHUNKED", "RequestFraming", "parse_field_block", "parse_request_head"]

CHUNKED = -1
"""``RequestFraming.body_length`` for a chunked body."""


RequestFraming = tuple[int, bool]
"""What the head says of the message after it: (body length, 0 for none, or CHUNKED;
whether the client wants the connection kept open)."""


def _bad(message: str, status: int = 400) -> RemoteProtocolError:
    return RemoteProtocolError(message, status=status)


def parse_field_block(block: bytes, limits: Limits, pos: int = 0) -> Headers:
    """Parse ``field-line CRLF`` repeated (RFC 9112 §5) from ``block[pos:]``.

    Names are lower-cased (they compare case-insensitively, RFC 9110 §5.1) and the OWS
    around values is left out (RFC 9112 §5.1). Raises RemoteProtocolError (400, or 431
    over ``max_header_count``).
    """
    if _abnf.field_block_re.fullmatch(block, pos) is None:
        raise _diagnose_field_block(block[pos:])
    # The block is valid: each line is a token (which has no ":"), a colon and a value
    # without CR or LF; the value's leading and trailing OWS are not part of it.
    headers = []
    for line in block[pos:].split(b"\r\n")[:-1]:
        name, _, value = line.partition(b":")
        headers.append((name.lower(), value.strip(b" \t")))
    if len(headers) > limits.max_header_count:
        raise _bad("too many header fields", 431)
    return headers


def _diagnose_field_block(block: bytes) -> RemoteProtocolError:
    """Name the first bad line of a field block known to be invalid, ending with CRLF.

    Only the error path comes here: it may be slow; the parse of a good block is not.
    """
    lines = block.split(b"\r\n")[:-1]
    line = next(line for line in lines if _abnf.field_line_re.fullmatch(line + b"\r\n") is None)
    if line[:1] in (b" ", b"\t"):
        # RFC 9112 §5.2: obs-fold; we reject it rather than unfold (smuggling vector).
        return _bad("obsolete line folding in header section")
    if b"\r" in line or b"\n" in line:
        # RFC 9112 §2.2: a bare CR MUST be rejected (or replaced); bare LF: our choice.
        return _bad("bare CR or LF in header section")
    name, colon, _ = line.partition(b":")
    if not colon:
        return _bad("header line without a colon")
    if name.rstrip(b" \t") != name:
        # RFC 9112 §5.1: no whitespace between field name and colon; MUST reject.
        return _bad("whitespace between header field name and colon")
    if _abnf.token_re.fullmatch(name) is None:
        return _bad("header field name is not a token")
    return _bad("control character in header field value")


def _parse_request_line(line: bytes, limits: Limits) -> tuple[bytes, bytes, str]:
    """Return (method, target, http_version) from a request line (RFC 9112 §3)."""
    match = _abnf.request_line_re.fullmatch(line)
    if match is None:
        tail = _abnf.http_version_tail_re.search(line)
        if tail is not None and int(tail.group(1)) >= 2:
            # RFC 9110 §15.6.6: 505 for a major version we do not support.
            raise _bad("HTTP major version not supported", 505)
        raise _bad("malformed request line")
    method, target, major, minor = match.groups(b"")
    if major != b"1":
        # RFC 9110 §2.5: a different major version is a different protocol.
        raise _bad("HTTP major version not supported", 505 if major > b"1" else 400)
    # RFC 9110 §2.5: a higher minor version of 1.x is handled as the highest we support.
    return method, target, "1.0" if minor == b"0" else "1.1"


def _target_parts(method: bytes, target: bytes) -> tuple[bytes, bytes, bytes | None]:
    """Split a request-target into (path, query, authority or None) per RFC 9112 §3.2."""
    first = target[:1]
    if first == b"/":
        # §3.2.1 origin-form; RFC 9110 §4.1 forbids a fragment, and RFC 3986 the rest.
        if _abnf.origin_form_re.fullmatch(target) is None:
            raise _bad("invalid character in request target")
        path, _, query = target.partition(b"?")
        return path, query, None
    if target == b"*":
        # §3.2.4: asterisk-form is only for a server-wide OPTIONS.
        if method != b"OPTIONS":
            raise _bad("asterisk-form request target is only allowed with OPTIONS")
        return b"*", b"", None
    if method == b"CONNECT":
        # §3.2.3: CONNECT takes authority-form, and only it.
        if _abnf.authority_form_re.fullmatch(target) is None:
            raise _bad("CONNECT needs an authority-form target (host:port)")
        return b"", b"", target
    match = _abnf.absolute_form_re.fullmatch(target)
    if match is None:
        raise _bad("invalid request target")
    # §3.2.2: absolute-form; its authority wins over the Host field (§3.2.2, last para).
    # RFC 9110 §4.2.4: userinfo is deprecated in http(s) URIs: HOST cannot contain "@".
    scheme, authority, path, query = match.groups(b"")
    if scheme.lower() not in (b"http", b"https"):
        raise _bad("request target is not an http or https URI")  # not ours to serve
    if authority[:1] in (b"", b":"):
        # RFC 9110 §4.2.1, §4.2.2: an http(s) URI with an empty host MUST be rejected.
        raise _bad("empty host in request target")
    return path or b"/", query or b"", authority


def _parse_content_length(values: list[bytes], limits: Limits) -> int:
    # RFC 9110 §8.6: Content-Length = 1*DIGIT. A list or a repeated field, even of equal
    # values, is rejected (RFC 9112 §6.3 (5) allows collapsing it; we do not).
    if len(values) != 1 or _abnf.digits_re.fullmatch(values[0]) is None:
        raise _bad("invalid Content-Length")
    if len(values[0]) > 18:
        raise _bad("Content-Length too large", 413)
    length = int(values[0])
    if limits.max_body_size is not None and length > limits.max_body_size:
        raise _bad("request body larger than the configured maximum", 413)
    return length


def _check_transfer_encoding(values: list[bytes], version: str, has_length: bool) -> None:
    if has_length:
        # RFC 9112 §6.1: a sender MUST NOT send both; §6.3 (3) lets a server reject such a
        # message (it is the classic smuggling vector) - and we do.
        raise _bad("both Transfer-Encoding and Content-Length")
    if version == "1.0":
        # RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
        raise _bad("Transfer-Encoding in an HTTP/1.0 request")
    codings = [c.strip(b" \t").lower() for c in b",".join(values).split(b",")]
    if codings[-1] != b"chunked":
        # RFC 9112 §6.3 (4): chunked must be the final coding of a request, else 400.
        raise _bad("chunked is not the final transfer coding")
    if len(codings) > 1:
        if b"chunked" in codings[:-1] or b"" in codings:
            # RFC 9112 §7: chunked MUST NOT be applied more than once.
            raise _bad("invalid Transfer-Encoding list")
        # RFC 9112 §6.1: a server that receives a coding it does not understand SHOULD
        # answer 501. We decode no compression codings.
        raise _bad("unsupported transfer coding", 501)


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
            raise _bad("request line too long", 414)
        method, target, version = _parse_request_line(head[:line_end], limits)
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
    body_length = _parse_content_length(lengths, limits) if lengths else 0
    if codings:
        _check_transfer_encoding(codings, version, bool(lengths))
        body_length = CHUNKED

    # RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive".
    upgrade = None
    if connection is None:
        keep_alive = version == "1.1"
    else:
        tokens = {t.strip(b" \t").lower() for t in connection.split(b",")}
        keep_alive = b"close" not in tokens and (version == "1.1" or b"keep-alive" in tokens)
        if b"upgrade" in tokens and method == b"GET" and version == "1.1" and not body_length:
            # RFC 9110 §7.8: Upgrade must be listed in Connection to count. We only offer
            # it to a bodiless GET, the one shape an upgrade to WebSocket takes (RFC 6455
            # §4.1); the server decides whether to take it up (``send_switching_protocols``).
            upgrade = _upgrade_field(headers)

    expect_continue = False
    if expect is not None:
        # RFC 9110 §10.1.1: 100-continue is the only expectation defined; any other → 417.
        # An HTTP/1.0 client's 100-continue MUST be ignored.
        if expect.lower() != b"100-continue":
            raise _bad("unsupported expectation", 417)
        expect_continue = version == "1.1" and body_length != 0

    request = Request(method, target, version, headers, path, query, host, expect_continue, upgrade)
    return request, (body_length, keep_alive)


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
        raise _bad("more than one Content-Type header field")
    return hosts, lengths, codings, connection, expect


def _check_host(hosts: list[bytes], version: str, authority: bytes | None) -> bytes:
    # RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request that lacks Host,
    # or has more than one, or whose Host is invalid.
    if len(hosts) > 1:
        raise _bad("more than one Host header field")
    if not hosts:
        if version == "1.1":
            raise _bad("missing Host header field")
        return authority or b""
    if authority is None and _abnf.plain_host_re.fullmatch(hosts[0]) is not None:
        return hosts[0]  # the common case: a valid, non-empty host[:port]
    match = _abnf.host_re.fullmatch(hosts[0])
    if match is None:
        raise _bad("invalid Host header field")
    if authority is not None:
        return authority  # §3.2.2: the target's authority wins; Host is ignored.
    if not match.group(1):
        # RFC 9110 §4.2.1: an http URI with an empty host MUST be rejected as invalid.
        raise _bad("empty Host header field")
    return hosts[0]
