"""The public API is curated: sorted ``__all__`` lists, and every listed name exists."""

from __future__ import annotations

import importlib

import pytest

PUBLIC_MODULES = [
    "ferry",
    "ferry.asgi",
    "ferry.client",
    "ferry.http1",
    "ferry.proxy",
    "ferry.server",
    "ferry.static",
    "ferry.websocket",
    "ferry.wsgi",
]


def isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then everything else."""
    if name.isupper():
        return 0, name
    return (1 if name[0].isupper() else 2), name


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=isort_key)
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr}"


def test_top_level_names() -> None:
    import ferry

    assert ferry.__all__ == [
        "ASGITransport",
        "AsyncClient",
        "Client",
        "ClientClosed",
        "ClientDisconnected",
        "ClientTimeout",
        "Config",
        "ConfigError",
        "ConnectError",
        "ConnectTimeout",
        "DecodingError",
        "FerryError",
        "HTTPStatusError",
        "Limits",
        "LocalProtocolError",
        "MockTransport",
        "NetworkError",
        "PoolTimeout",
        "ProtocolError",
        "ReadTimeout",
        "RemoteProtocolError",
        "Server",
        "StaticFiles",
        "TooManyRedirects",
        "WriteTimeout",
        "__version__",
        "serve",
    ]


def test_error_tree() -> None:
    import ferry

    assert issubclass(ferry.RemoteProtocolError, ferry.ProtocolError)
    assert issubclass(ferry.LocalProtocolError, ferry.ProtocolError)
    assert issubclass(ferry.ProtocolError, ferry.FerryError)
    assert issubclass(ferry.ClientDisconnected, OSError)
    assert issubclass(ferry.ConfigError, ValueError)
    assert ferry.RemoteProtocolError("x", status=431).status == 431
    assert ferry.LocalProtocolError("x").status == 500
