# cartrisk: two commands do everything on a fresh machine.
#   make demo   set up, then run the main job end to end
#   make test   set up, then run lint, types and the test suite
# Every target installs what it needs first (a virtual environment in .venv).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CARTRISK_HOME ?= .cartrisk
export CARTRISK_HOME
DATA := $(CARTRISK_HOME)/data
CUSTOMERS ?= 20000
DAYS ?= 60
# the demo shop tests incentives on every cart, so a week of experiments is enough to measure their effects
EXPERIMENT_SHARE ?= 1.0

.PHONY: setup demo test lint typecheck pytest bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

PORT ?= 3000

## The main job: a shop with known truth -> cart snapshots with features -> segments -> a model tracked
## in MLflow, registered, promoted to champion if it beats the current one -> uplift models learned from the
## shop's incentive experiments, tracked, registered, promoted the same way -> customer profiles synced ->
## the champions imported into BentoML -> every cart scored in batch, the marketers' lists and HTML report
## written -> the scoring service running (the report at /report), answering a real cart.
demo: setup
	$(BIN)/cartrisk generate --out $(DATA) --customers $(CUSTOMERS) --days $(DAYS) --experiment-share $(EXPERIMENT_SHARE)
	$(BIN)/cartrisk features --data $(DATA) --out $(CARTRISK_HOME)/features.parquet
	$(BIN)/cartrisk segments --features $(CARTRISK_HOME)/features.parquet
	$(BIN)/cartrisk train --data $(DATA) --features $(CARTRISK_HOME)/features.parquet --register
	$(BIN)/cartrisk promote --data $(DATA) --features $(CARTRISK_HOME)/features.parquet
	$(BIN)/cartrisk uplift train --data $(DATA) --features $(CARTRISK_HOME)/features.parquet --register
	$(BIN)/cartrisk uplift promote --data $(DATA) --features $(CARTRISK_HOME)/features.parquet
	$(BIN)/cartrisk profiles sync --data $(DATA)
	$(BIN)/cartrisk import-model
	$(BIN)/cartrisk score --data $(DATA) --features $(CARTRISK_HOME)/features.parquet --out $(CARTRISK_HOME)/exports
	-$(BIN)/cartrisk serve --stop 2>/dev/null
	$(BIN)/cartrisk serve --port $(PORT) --background
	$(BIN)/cartrisk example-request --data $(DATA) --send http://127.0.0.1:$(PORT)
	@echo "The service keeps running on http://127.0.0.1:$(PORT); stop it with: $(BIN)/cartrisk serve --stop"

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/python -m pytest

## The test command the README gives: lint, types, then every test.
test: lint typecheck pytest

bench: setup
	$(BIN)/python benchmarks/bench_features.py
	$(BIN)/python benchmarks/bench_generate.py

clean:
	rm -rf $(CARTRISK_HOME) .pytest_cache .mypy_cache .ruff_cache
