from __future__ import annotations

import pytest

from .support import LOOPS
from .tls_support import Certificates, have_openssl, make_certificates


@pytest.fixture(params=LOOPS)
def loop_name(request: pytest.FixtureRequest) -> str:
    """Every server test runs once on asyncio and once on uvloop."""
    return str(request.param)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A test CA with server and client certificates (tests/tls_support.py), made once."""
    if not have_openssl():
        pytest.skip("needs the openssl command line")
    return make_certificates(tmp_path_factory.mktemp("certificates"))
