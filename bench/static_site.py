"""The files the static scenarios serve: the same directory for Ferry and for nginx.

`small.txt` holds the 13 bytes of the hello body (so the readiness check is the same
as for the application servers); `large.bin` is 1 MiB of incompressible bytes with a
binary type, so that no server is tempted to compress it.

StaticFiles caches a file's fields (and, up to 64 KiB, its bytes) once its ctime is 2 s
old (docs/static.md); the files are written before any server starts, and each server's
start, readiness check and warm-up take longer than that, so the measured seconds serve
from the cache as they would on a site that was not just deployed.
"""

import os
from pathlib import Path

SMALL_PATH = "/small.txt"
SMALL_BODY = b"Hello, world!"
LARGE_PATH = "/large.bin"
LARGE_SIZE = 1 << 20


def write(directory: Path) -> Path:
    """Create `directory` with the two files, readable by everyone; return it.

    nginx's worker drops root for `nobody`, so the files must be world-readable and
    every directory above them searchable (the caller sees to the ones it made).
    """
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    for path, data in (
        (SMALL_PATH, SMALL_BODY),
        (LARGE_PATH, os.urandom(LARGE_SIZE)),
    ):
        file = directory / path.lstrip("/")
        file.write_bytes(data)
        file.chmod(0o644)
    return directory
