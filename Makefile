# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

.PHONY: install run test lint typecheck unit unit-compiled bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"

# Idempotent: re-running only re-syncs the editable install. The compiled accelerator
# (the hot modules built by mypyc, src/ferry/_accel.py) is rebuilt only when its sources
# changed; without a C compiler it is skipped and Ferry runs the same code as Python.
install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[fast,ws,reload]" "mypy>=1.10"
	$(BIN)/python scripts/accelerate.py

run: install
	$(BIN)/ferry serve examples/site --port $(PORT)

$(VENV)/.dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[fast,ws,reload]" --group dev
	touch $@

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests examples bench scripts
	$(BIN)/ruff format --check src tests examples bench scripts
	$(BIN)/python scripts/unasync.py --check

typecheck: $(VENV)/.dev
	$(BIN)/mypy

# The suite runs twice: as pure Python (with branch coverage; FERRY_PURE=1), and with
# the compiled accelerator that `make install` and `make run` use.
# The build comes first: the pure pass checks that a build of older sources is never used
# (tests/test_accelerator.py), which a build left from an earlier checkout would fail.
unit: $(VENV)/.dev
	$(BIN)/python scripts/accelerate.py
	FERRY_PURE=1 $(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

unit-compiled: $(VENV)/.dev
	$(BIN)/python scripts/accelerate.py
	$(BIN)/python -c "import ferry._accel as a; print('accelerator', a.reason())"
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test: lint typecheck unit unit-compiled

bench: install
	$(PYTHON) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-bench .mypy_cache .pytest_cache .ruff_cache .coverage src/ferry/_compiled
