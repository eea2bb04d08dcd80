# The two commands a fresh clone needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-rabbitmq4 suite lint typecheck contracts unit bench compose-test clean

# uv (from PyPI, into the venv) installs the dependencies in half of pip's time; the venv keeps its pip. Compiled
# at install, as pip does: the tests start hundreds of processes, and PYTHONDONTWRITEBYTECODE may be set.
$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing spartakus with its test tools (first run takes half a minute)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv
	UV_LINK_MODE=copy $(BIN)/uv pip install --compile-bytecode --python $(BIN)/python -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## run: the collector side on this machine (ingest on :8080, writers into DuckDB), with a RabbitMQ of its own when
## none answers; flags in ARGS, e.g. `make run ARGS=--no-broker`
run: $(STAMP)
	$(BIN)/python -m spartakus.run $(ARGS)

# Workers for the test suite: its tests mostly wait (on RabbitMQ, processes, sockets), so more workers than cores pay.
# Three of them run the serial groups (tests/conftest.py's XDIST_GROUPS: the cluster and two of heavy tests); the
# other three share the rest.
TEST_WORKERS ?= 6
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadgroup

## test: every gate and every test (the command CI runs); the gates run beside the suite, each one's output in one piece
test: $(STAMP)
	@$(MAKE) --no-print-directory -j 4 --output-sync=target lint typecheck contracts suite

suite: $(STAMP)
	$(BIN)/pytest $(PYTEST_PARALLEL)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# One run, strict, over the packages, the tests and the benchmarks (pyproject's [tool.mypy] packages).
typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_PARALLEL) -m 'not integration and not e2e'

## compose-test: the compose stack for real (CI runs it after `make test`): a Docker engine and Compose v2 (installed
## and started when missing), `docker compose build`, `up --wait`, the end-to-end suite in tests/compose, `down -v`.
## An engine started here is stopped again; SPARTAKUS_KEEP_ENGINE=1 keeps it for the next run.
compose-test: $(STAMP)
	deploy/compose-engine.sh start
	$(BIN)/python -m tests.compose.run; status=$$?; \
	  [ -n "$(SPARTAKUS_KEEP_ENGINE)" ] || deploy/compose-engine.sh stop || status=1; \
	  exit $$status

## test-rabbitmq4: the broker-facing suites (ingest, writer, e2e, cluster) against RabbitMQ 4.x, Debian trixie's
## rabbitmq-server in a cached debootstrapped folder (deploy/rabbitmq4.sh; root), as a node of its own. CI runs it.
RABBITMQ4_NODE ?= $(or $(SPARTAKUS_TEST_NODE_PREFIX),spartakus-test)-rmq4
test-rabbitmq4: $(STAMP)
	deploy/rabbitmq4.sh run $(RABBITMQ4_NODE) $(BIN)/pytest tests/ingest tests/writer tests/e2e tests/cluster

bench: $(STAMP)
	$(BIN)/python bench/schema_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
