"""The one exception tree of Ferry.

::

    FerryError                         root: catch this to catch anything Ferry raises
    ├── ProtocolError                  an HTTP/1.1 rule was broken; ``.status`` is the
    │   │                              response status it maps to
    │   ├── RemoteProtocolError        the peer broke the rule (bad request bytes): 400,
    │   │                              408, 413, 414, 417, 431, 501, 505
    │   └── LocalProtocolError         our caller broke it (e.g. an application sent a
    │                                  header value with CR/LF): 500
    ├── ClientDisconnected(OSError)    ASGI ``send()`` after the client went away
    └── ConfigError(ValueError)        a configuration value or application target is wrong

Errors are split by blame, as in h11: a ``RemoteProtocolError`` is answered with its status
and the connection is closed; a ``LocalProtocolError`` is a bug in the application and is
answered with 500 when nothing has been sent yet.
"""

from __future__ import annotations

__all__ = [
    "ClientDisconnected",
    "ConfigError",
    "FerryError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
]


class FerryError(Exception):
    """Root of every exception Ferry raises."""


class ProtocolError(FerryError):
    """An HTTP/1.1 rule was broken.

    ``status`` is the HTTP status code the error maps to when a server answers it.
    """

    status: int

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that break RFC 9110/9112 (or exceed a configured limit)."""


class LocalProtocolError(ProtocolError):
    """Our caller asked for something HTTP/1.1 forbids (e.g. a header with a CR)."""

    def __init__(self, message: str, *, status: int = 500) -> None:
        super().__init__(message, status=status)


class ConfigError(FerryError, ValueError):
    """A configuration value, or the application target, is invalid."""


class ClientDisconnected(FerryError, OSError):
    """The client closed the connection; the response can no longer be sent.

    ASGI 2.4 asks servers to raise a subclass of OSError from ``send()`` in that case.
    """
