"""The public names of ``ferry.static``."""

from __future__ import annotations

from pathlib import Path

import ferry
import ferry.static
from ferry.static import StaticFiles, app_for_directory


def test_all_is_sorted_and_complete() -> None:
    assert ferry.static.__all__ == sorted(ferry.static.__all__)
    assert ferry.static.__all__ == ["FileShrankError", "StaticFiles", "app_for_directory"]


def test_app_for_directory_uses_the_defaults(tmp_path: Path) -> None:
    app = app_for_directory(tmp_path)
    assert isinstance(app, StaticFiles)
    assert app.root.path == str(tmp_path.resolve())
    assert (app.index, app.listings, app.gzip, app.precompressed) == (
        "index.html",
        True,
        True,
        True,
    )
    assert (app.root.follow_symlinks, app.show_hidden, app.cache_control) == (False, False, None)


def test_file_shrank_error_is_a_ferry_error_and_an_os_error() -> None:
    # Caught as an OSError by the server (it aborts the connection), and part of the one
    # exception tree, as everything Ferry raises.
    assert issubclass(ferry.static.FileShrankError, ferry.FerryError)
    assert issubclass(ferry.static.FileShrankError, OSError)
