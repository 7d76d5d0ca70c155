"""Compiled grammar of RFC 9110 / RFC 9112, one regex per production.

Every pattern is deterministic (each repetition is over a class that excludes the next
delimiter), so matching is linear in the input: no backtracking blow-up on hostile input.
"""

from __future__ import annotations

import re


def prefixes(*parts: bytes) -> bytes:
    """A pattern for any prefix of ``parts`` concatenated (the empty one included): what
    the start of a line that is still arriving must match (see ``_scan.py``)."""
    pattern = b""
    for part in reversed(parts):
        pattern = b"(?:" + part + pattern + b")?"
    return pattern


# RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
#                          "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
TOKEN = rb"[" + TCHAR + rb"]+"
token_re = re.compile(TOKEN)

# RFC 9110 §5.5: field-value = *field-content; field-vchar = VCHAR / obs-text, with SP and
# HTAB allowed inside. We refuse every other control character (NUL, CR, LF, and the
# rest of 0x00-0x1F plus DEL): see docs/rfc-choices.md, "control characters in values".
# The one definition of the class, used by every rule on field values: received field
# lines, the application's fields, a reason phrase (RFC 9112 §4: the same characters).
FIELD_VCHAR_CLASS = rb"\x21-\x7e\x80-\xff"  # field-vchar
FIELD_VALUE_CLASS = rb"\t\x20" + FIELD_VCHAR_CLASS
FIELD_VALUE_CHARS = rb"[" + FIELD_VALUE_CLASS + rb"]*"
field_value_re = re.compile(FIELD_VALUE_CHARS)
# Its complement within a line: a CTL other than HTAB. In a partial line (which holds no
# CRLF by construction) this finds a bare CR or LF too (RFC 9112 §2.2).
field_ctl_re = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

# RFC 9112 §5: field-line = field-name ":" OWS field-value OWS, ended by CRLF.
# No whitespace is allowed between name and colon (§5.1: MUST reject with 400).
# A line that starts with SP/HTAB (obs-fold, §5.2) cannot match: the name must be a token.
# ``field_block_re`` validates a whole block; ``field_line_re`` then extracts (name, value)
# with the OWS already left out of the value. Its quantifiers are possessive (``++``), so
# it never backtracks over whitespace.
_VCHARS = rb"[" + FIELD_VCHAR_CLASS + rb"]++"
field_block_re = re.compile(rb"(?:" + TOKEN + rb":" + FIELD_VALUE_CHARS + rb"\r\n)*")
field_line_re = re.compile(
    rb"(" + TOKEN + rb"):[ \t]*+((?:" + _VCHARS + rb"(?:[ \t]++" + _VCHARS + rb")*+)?)[ \t]*+\r\n"
)

# RFC 9112 §3: request-line = method SP request-target SP HTTP-version
# Exactly one SP between parts (§3 allows lenient whitespace parsing; we do not).
request_line_re = re.compile(rb"(" + TOKEN + rb") ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])")
# Anything that merely looks like a version, to tell 505 from 400.
http_version_tail_re = re.compile(rb" HTTP/([0-9]+)\.([0-9]+)$")

# RFC 3986 §3.3 / RFC 9112 §3.2.1: origin-form = absolute-path [ "?" query ].
# pchar = unreserved / pct-encoded / sub-delims / ":" / "@"; query adds "/" and "?".
_PCT = rb"%[0-9A-Fa-f]{2}"
_PCHAR_CLASS = rb"A-Za-z0-9\-._~!$&'()*+,;=:@"
_PATH = rb"(?:/(?:[" + _PCHAR_CLASS + rb"]|" + _PCT + rb")*)+"
_QUERY = rb"(?:[" + _PCHAR_CLASS + rb"/?]|" + _PCT + rb")*"
origin_form_re = re.compile(_PATH + rb"(?:\?" + _QUERY + rb")?")

# The common case in one match: an HTTP/1.x request line with an origin-form target
# whose path and query hold no percent sign (anything else takes the general path).
fast_request_line_re = re.compile(
    rb"("
    + TOKEN
    + rb") (/["
    + _PCHAR_CLASS
    + rb"/]*+)(?:\?(["
    + _PCHAR_CLASS
    + rb"/?]*+))? HTTP/1\.([0-9])\r\n"
)

# RFC 3986 §3.2.2: host = IP-literal / IPv4address / reg-name; port = *DIGIT.
_REG_NAME = rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|" + _PCT + rb")*"
_IP_LITERAL = rb"\[[0-9A-Fa-f:.]+\]|\[v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+\]"
HOST = rb"(?:" + _IP_LITERAL + rb"|" + _REG_NAME + rb")"
host_re = re.compile(rb"(" + HOST + rb")(?::([0-9]*))?")
# A plain DNS name or IPv4 address with an optional port: most Host values, checked fast.
plain_host_re = re.compile(rb"[A-Za-z0-9.\-]++(?::[0-9]++)?")

# RFC 9112 §3.2.2: absolute-form = absolute-URI. We accept the hierarchical form with an
# authority ("scheme://authority path [?query]"); userinfo is refused (RFC 9110 §4.2.4).
absolute_form_re = re.compile(
    rb"([A-Za-z][A-Za-z0-9+\-.]*)://("
    + HOST
    + rb"(?::[0-9]*)?)("
    + _PATH
    + rb")?(?:\?("
    + _QUERY
    + rb"))?"
)

# RFC 9112 §3.2.3: authority-form = uri-host ":" port (CONNECT only).
authority_form_re = re.compile(HOST + rb":[0-9]+")

# RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
# chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
# chunk-ext-val = token / quoted-string
_BWS = rb"[ \t]*"
# RFC 9110 §5.6.4: qdtext is a field-value character but DQUOTE and "\"; quoted-pair
# escapes any field-value character.
_QUOTED_STRING = rb'"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[' + FIELD_VALUE_CLASS + rb'])*"'
CHUNK_EXT = (
    rb"(?:"
    + _BWS
    + rb";"
    + _BWS
    + TOKEN
    + rb"(?:"
    + _BWS
    + rb"="
    + _BWS
    + rb"(?:"
    + TOKEN
    + rb"|"
    + _QUOTED_STRING
    + rb"))?)*"
)
chunk_size_line_re = re.compile(rb"([0-9A-Fa-f]+)(" + CHUNK_EXT + rb")")

# RFC 9110 §8.6: Content-Length = 1*DIGIT
digits_re = re.compile(rb"[0-9]+")
