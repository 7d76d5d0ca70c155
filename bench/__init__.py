"""Ferry's benchmark harness: `make bench` runs `bench/run.py` (see bench/README.md).

This is a package only so that servers can import the application as `bench.apps:hello`.
"""
