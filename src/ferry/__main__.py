"""``python -m ferry``: the same program as the ``ferry`` command."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
