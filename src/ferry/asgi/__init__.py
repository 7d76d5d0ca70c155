"""The ASGI 3 adapter: request cycles, lifespan, the types an application sees.

``import_app`` is listed here, where it has always been, but it is the server's
(``ferry.server._loader``: loading a target is above ASGI, WSGI and static files). The
ASGI layer does not import the server, so ``ferry/__init__.py``, which sits above every
layer and always runs first, binds it here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lifespan import Lifespan, LifespanFailure
from ._types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:  # bound at run time by ferry/__init__.py, see above
    from ..server._loader import import_app

__all__ = [
    "ASGIApp",
    "Lifespan",
    "LifespanFailure",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "import_app",
]
