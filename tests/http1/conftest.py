from __future__ import annotations

import pytest

from ..support import FIXED_TIME
from .helpers import FIXED_DATE


@pytest.fixture(autouse=True)
def fixed_date(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Every response head carries the same Date line, so tests can compare exact bytes."""
    monkeypatch.setattr("ferry.http1._date.clock", lambda: FIXED_TIME)
    return FIXED_DATE
