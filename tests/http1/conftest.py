from __future__ import annotations

import pytest

from ferry.http1 import _response

from .helpers import FIXED_DATE


@pytest.fixture(autouse=True)
def fixed_date(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Every response head carries the same Date line, so tests can compare exact bytes."""
    monkeypatch.setattr(_response, "date_header", lambda: FIXED_DATE)
    return FIXED_DATE
