# The two commands a fresh clone needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck contracts unit bench clean

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing spartakus with its test tools (first run takes a minute or two)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --progress-bar on -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## run: the collector side on this machine (ingest on :8080, writers into DuckDB)
run: $(STAMP)
	$(BIN)/python -m spartakus.run

## test: every gate and every test (the command CI runs)
test: $(STAMP) lint typecheck contracts
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --check-untyped-defs tests bench

contracts: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest -m 'not integration and not e2e'

bench: $(STAMP)
	$(BIN)/python bench/schema_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
