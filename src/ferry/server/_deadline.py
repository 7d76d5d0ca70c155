"""The deadlines a connection can be under."""

from __future__ import annotations

from typing import Final

# Kinds of deadline a connection can be under (checked by the server's ticker).
NO_DEADLINE: Final = 0
HEAD: Final = 1
IDLE: Final = 2
BODY: Final = 3
