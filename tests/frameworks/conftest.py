from __future__ import annotations

from ..wsgi.conftest import error_log, fixed_date

__all__ = ["error_log", "fixed_date"]
