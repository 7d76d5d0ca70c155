"""Static files: ``StaticFiles``, an ASGI application that serves a directory.

>>> from ferry.static import StaticFiles
>>> app = StaticFiles("public", cache_control="max-age=60")  # doctest: +SKIP

Ranges, validators and conditional requests, precompressed siblings and gzip, directory
listings; zero-copy through the ``http.response.zerocopysend`` and
``http.response.pathsend`` ASGI extensions when the server offers them. See
``docs/static.md``.
"""

from __future__ import annotations

from ._app import StaticFiles, app_for_directory
from ._body import FileShrankError

__all__ = ["FileShrankError", "StaticFiles", "app_for_directory"]
