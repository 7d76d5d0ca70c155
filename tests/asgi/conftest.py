from __future__ import annotations

# The server tests' fixtures, shared: the fixed Date (autouse) and the error log.
from ..server.conftest import error_log, fixed_date

__all__ = ["error_log", "fixed_date"]
