"""ferry.proxy does no I/O, like the engine: the server feeds it bytes and fields."""

from __future__ import annotations

from pathlib import Path

import pytest

import ferry.proxy
from tests.http1.test_sans_io import forbidden_imports

PACKAGE = Path(ferry.proxy.__file__).parent


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_proxy_module_imports_no_io(path: Path) -> None:
    assert forbidden_imports(path.read_text(encoding="utf-8"), "ferry.proxy") == set()
