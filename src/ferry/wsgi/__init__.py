"""The WSGI (PEP 3333) adapter: a WSGI application served as an ASGI 3 application."""

from __future__ import annotations

from ._adapter import WSGIAdapter
from ._input import WSGIInput
from ._response import FileWrapper

__all__ = ["FileWrapper", "WSGIAdapter", "WSGIInput"]
