# The README's two commands: `make run` and `make test`. Both bootstrap what is missing first.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER := 0
export RAY_USAGE_STATS_ENABLED := 0

.PHONY: bootstrap schema run test test-shuffled unit lint typecheck check clean

bootstrap:            ## services (apt if missing), .venv + package, config/env_dev.toml
	@cluster/bootstrap.sh

schema: bootstrap     ## apply the DBA-owned objects (idempotent)
	@$(BIN)/beds schema apply

run: schema           ## bootstrap, then run BEDS on local Ray in the foreground
	$(BIN)/beds up

test: schema          ## bootstrap, then the whole suite against the real services
	$(BIN)/pytest -q -p no:randomly

test-shuffled: schema ## the same suite in a random order (RANDOMLY_SEED=n to repeat one)
	$(BIN)/pytest -q $(if $(RANDOMLY_SEED),--randomly-seed=$(RANDOMLY_SEED),)

unit: bootstrap       ## the fast tests that need no services
	$(BIN)/pytest -q -p no:randomly tests/unit

lint:
	$(BIN)/ruff check beds_actors tests
	$(BIN)/ruff format --check beds_actors tests

typecheck:
	$(BIN)/mypy

check: lint typecheck

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache build *.egg-info

.PHONY: bench
bench: bootstrap      ## the comparison BEDS vs raw floor vs FastStream vs Nameko, ~15 min (BENCH_ARGS=--quick: ~3 min)
	@$(BIN)/python -c 'import faststream, nameko, psutil' 2>/dev/null || $(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/run.py $(BENCH_ARGS)
