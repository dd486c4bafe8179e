# Postroom: `make run` starts the server on the embedded defaults, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export POSTROOM_DATA_DIR ?= $(CURDIR)/var

.PHONY: run test test-sqlite test-postgresql check format system-deps clean bench cluster bytecode

$(STAMP): pyproject.toml src/postroom/web/portal/vendor-assets.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	scripts/fetch-assets
	touch $(STAMP)

## Compile the sources as a wheel install does. The editable install leaves that to the first import,
## and where PYTHONDONTWRITEBYTECODE is set every `postroom` process compiled ~60 modules again (~0.1 s).
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 src > /dev/null

## Debian packages the tests need (real servers); installed only when missing.
system-deps:
	scripts/install-system-deps

## Set up, initialise the data directory on first run, and serve on http://127.0.0.1:8025/
run: $(STAMP) bytecode
	$(BIN)/postroom init
	$(BIN)/postroom serve

## Format, lint and type checks.
check: $(STAMP)
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/mypy --strict src

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

test-sqlite: $(STAMP) bytecode
	POSTROOM_TEST_DATABASE=sqlite $(BIN)/pytest -q

test-postgresql: $(STAMP) bytecode
	scripts/ensure-postgresql
	POSTROOM_TEST_DATABASE=postgresql $(BIN)/pytest -q

## Everything CI runs: checks, then the whole suite on SQLite and on PostgreSQL.
test: system-deps check test-sqlite test-postgresql

## A scale-out cluster on this machine: PostgreSQL, Redis, two serve and two worker processes (Ctrl-C stops it).
cluster: $(STAMP)
	scripts/local-cluster

## Benchmark the IMAP sync against mbsync and offlineimap3 (bench/sync_vs_peers.py; not a test).
bench: $(STAMP) bytecode
	$(BIN)/python bench/sync_vs_peers.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
