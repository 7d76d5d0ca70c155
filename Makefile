# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

.PHONY: install run test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"

# Idempotent: re-running only re-syncs the editable install.
install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[fast,ws]"

run: install
	$(BIN)/ferry serve examples.welcome:app --port $(PORT)

$(VENV)/.dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[fast,ws]" --group dev
	touch $@

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests examples bench scripts
	$(BIN)/ruff format --check src tests examples bench scripts
	$(BIN)/python scripts/unasync.py --check

typecheck: $(VENV)/.dev
	$(BIN)/mypy

unit: $(VENV)/.dev
	$(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

test: lint typecheck unit

bench: install
	$(PYTHON) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-bench .mypy_cache .pytest_cache .ruff_cache .coverage
