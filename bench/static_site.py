"""The files the static scenarios serve: the same directory for Ferry and for nginx.

`small.txt` holds the 13 bytes of the hello body (so the readiness check is the same
as for the application servers); `large.bin` is 1 MiB of incompressible bytes with a
binary type, so that no server is tempted to compress it.

StaticFiles caches a file's fields (and, up to 64 KiB, its bytes) once its ctime is 2 s
old (docs/static.md). The files are written before the first server starts, and the
server's start plus the warm-up (2 s by default) cover that, so the measured seconds are
served from the cache, as on a site that was not deployed this very moment. (With a
shorter `--warmup` and only the static scenarios, the first Ferry run's first second
may not be.)
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
