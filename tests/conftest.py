from __future__ import annotations

import pytest

from .support import LOOPS


@pytest.fixture(params=LOOPS)
def loop_name(request: pytest.FixtureRequest) -> str:
    """Every server test runs once on asyncio and once on uvloop."""
    return str(request.param)
