"""``ferry.client`` exports a sorted, importable ``__all__``."""

from __future__ import annotations

import ferry.client


def test_all_is_sorted_and_importable() -> None:
    names = ferry.client.__all__
    assert names == sorted(names)
    assert all(hasattr(ferry.client, name) for name in names)


def test_exceptions_share_the_root_and_builtins() -> None:
    from ferry import FerryError

    client = ferry.client
    assert issubclass(client.ConnectError, ConnectionError)
    assert issubclass(client.ReadTimeout, TimeoutError)
    assert issubclass(client.PoolTimeout, client.ClientTimeout)
    for name in ferry.client.__all__:
        value = getattr(client, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, FerryError), name
