"""``ferry fetch``'s options: curl's names and meanings (docs/fetch.md), and Ferry's own
timeline (``--trace``)."""

from __future__ import annotations

import argparse
import re
from typing import Any

__all__ = ["add_fetch_command", "file_size"]

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
"""curl's size suffixes (any case): binary multiples."""


def add_fetch_command(subparsers: Any) -> None:
    """Add ``fetch`` to the ``ferry`` command's subparsers."""
    fetch = subparsers.add_parser(
        "fetch",
        help="send an HTTP request and show the response (curl's options)",
        description="Send one HTTP/1.1 request with Ferry's client; the options are "
        "curl's (docs/fetch.md). Exit status as curl's: 0 done (whatever the HTTP status, "
        "unless -f), 22 HTTP status >= 400 with -f, 1 unsupported protocol, 2 bad options, "
        "3 bad URL, 6 unknown host, 7 no connection, 8 bad response, 23 cannot write the "
        "output, 26 cannot read the upload, 28 timeout, 33 resume not supported, "
        "35 TLS handshake failed, 47 too many redirects, 52 empty reply, 56 connection "
        "broke, 60 certificate not verified, 61 undecodable body, 63 body larger than "
        "--max-filesize, 77 cannot read --cacert/--capath.",
        allow_abbrev=False,
    )
    fetch.add_argument("url", metavar="URL", help="http:// or https:// (http:// if omitted)")
    _request_options(fetch.add_argument_group("request"))
    _output_options(fetch.add_argument_group("output"))
    _connection_options(fetch.add_argument_group("connection"))
    _trace_options(fetch.add_argument_group("Ferry's own: the timeline"))


def _request_options(group: Any) -> None:
    group.add_argument(
        "-X", "--request", dest="method", help="method (default GET, POST with data)"
    )
    group.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a header field; 'NAME:' removes one, 'NAME;' sends it empty, @FILE reads them",
    )
    data = {"dest": "data", "action": "append", "metavar": "DATA"}
    group.add_argument(
        "-d",
        "--data",
        **data,
        type=lambda value: ("ascii", value),
        help="form data (POST, application/x-www-form-urlencoded); @FILE reads it from FILE "
        "without CR/LF, @- from stdin; repeated: joined with &",
    )
    group.add_argument(
        "--data-ascii", **data, type=lambda value: ("ascii", value), help="the same as -d"
    )
    group.add_argument(
        "--data-binary", **data, type=lambda value: ("binary", value), help="-d, @FILE as is"
    )
    group.add_argument(
        "--data-raw", **data, type=lambda value: ("raw", value), help="-d, without @FILE"
    )
    group.add_argument(
        "--data-urlencode",
        **data,
        type=lambda value: ("urlencode", value),
        help="-d, percent-encoded: CONTENT, =CONTENT, NAME=CONTENT, @FILE, NAME@FILE",
    )
    group.add_argument(
        "--json",
        action="append",
        metavar="DATA",
        help="a JSON body (@FILE, @-): POST, Content-Type and Accept application/json",
    )
    group.add_argument(
        "-F",
        "--form",
        dest="form",
        action="append",
        type=lambda value: ("form", value),
        metavar="NAME=CONTENT",
        help="a multipart/form-data field (POST): NAME=VALUE, NAME=@FILE uploads FILE, "
        "NAME=<FILE sends its content; ;type=TYPE and ;filename=NAME after a file",
    )
    group.add_argument(
        "--form-string",
        dest="form",
        action="append",
        type=lambda value: ("string", value),
        metavar="NAME=VALUE",
        help="-F with VALUE as written (no @ or <)",
    )
    group.add_argument("-G", "--get", action="store_true", help="put the data in the query")
    group.add_argument("-I", "--head", action="store_true", help="HEAD: show the head only")
    group.add_argument(
        "-T", "--upload-file", metavar="FILE", help="PUT FILE (- for stdin, chunked)"
    )
    group.add_argument("-u", "--user", metavar="USER:PASSWORD", help="Basic authentication")
    group.add_argument("-A", "--user-agent", metavar="NAME", help="User-Agent ('' for none)")
    group.add_argument("-e", "--referer", metavar="URL", help="Referer")
    group.add_argument(
        "-C",
        "--continue-at",
        metavar="OFFSET",
        help="resume at OFFSET with a Range request; - resumes where the -o file ends",
    )
    group.add_argument(
        "--compressed",
        action="store_true",
        help="ask for a compressed response and decode it (else the body is left as sent)",
    )


def _output_options(group: Any) -> None:
    group.add_argument("-o", "--output", metavar="FILE", help="write the body to FILE")
    group.add_argument(
        "-O", "--remote-name", action="store_true", help="write it to the URL's file name"
    )
    group.add_argument("-i", "--include", action="store_true", help="show the response heads")
    group.add_argument("-D", "--dump-header", metavar="FILE", help="write the heads to FILE")
    group.add_argument(
        "-v", "--verbose", action="store_true", help="show both heads as exchanged, on stderr"
    )
    group.add_argument("-f", "--fail", action="store_true", help="exit 22 on a status >= 400")
    group.add_argument(
        "--fail-with-body", action="store_true", help="as -f, and write the body still"
    )
    group.add_argument("-s", "--silent", action="store_true", help="no progress, no errors")
    group.add_argument("-S", "--show-error", action="store_true", help="with -s: show errors still")
    group.add_argument(
        "-w", "--write-out", metavar="FORMAT", help="curl's variables, e.g. '%%{http_code}\\n'"
    )


def _connection_options(group: Any) -> None:
    group.add_argument("-L", "--location", action="store_true", help="follow redirects")
    group.add_argument(
        "--max-redirs", type=int, default=50, metavar="N", help="redirects -L follows (50)"
    )
    group.add_argument(
        "-m", "--max-time", type=float, metavar="SECONDS", help="for the whole operation"
    )
    group.add_argument("--connect-timeout", type=float, metavar="SECONDS")
    group.add_argument(
        "--max-filesize",
        type=file_size,
        metavar="BYTES",
        help="a larger body (declared, or as it arrives) ends the transfer: exit 63; "
        "suffixes k, M, G (1024-based)",
    )
    group.add_argument(
        "--timeout", type=float, default=30.0, help="seconds for each step (Ferry's own)"
    )
    group.add_argument("-k", "--insecure", action="store_true", help="do not verify certificates")
    group.add_argument(
        "--cacert", metavar="FILE", help="trust the CA certificates in FILE (PEM) instead"
    )
    group.add_argument(
        "--capath", metavar="DIR", help="trust the CA certificates in DIR (c_rehash) instead"
    )
    group.add_argument("--unix-socket", metavar="PATH", help="connect to this UNIX socket")
    group.add_argument(
        "-x",
        "--proxy",
        metavar="URL",
        help="an HTTP proxy for the request (default: HTTP_PROXY, HTTPS_PROXY, ALL_PROXY)",
    )
    group.add_argument(
        "--noproxy",
        metavar="LIST",
        help="hosts that bypass the proxy, as NO_PROXY lists them (which it replaces)",
    )


def _trace_options(group: Any) -> None:
    group.add_argument("--trace", action="store_true", help="print the exchange as a timeline")
    group.add_argument(
        "--trace-json", action="store_true", help="print the timeline as JSON on stdout"
    )
    group.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="send N requests on one client"
    )


def file_size(value: str) -> int:
    """``--max-filesize``: bytes, with curl's suffixes K, M, G (1024, 1024², 1024³) or
    B, in any case."""
    match = re.fullmatch(r"(\d+)([bkmgBKMG]?)", value.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size (bytes, or with K, M, G): {value!r}")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]
