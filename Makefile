# Chronos: `make start` runs the whole stack on this machine, `make test` runs every check.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
CHRONOS_API_BIND ?= 127.0.0.1:8000
# The worker's (Dramatiq's, 9191) and the scheduler's (9192) metrics, on this machine only.
dramatiq_prom_host ?= 127.0.0.1
CHRONOS_SCHEDULER_METRICS_HOST ?= 127.0.0.1
export CHRONOS_API_BIND dramatiq_prom_host CHRONOS_SCHEDULER_METRICS_HOST

.PHONY: install start test lint typecheck unit bench clean

# Re-installs when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

start: install
	$(BIN)/python -m shared.bootstrap
	@echo "chronos: API on http://$(CHRONOS_API_BIND)  (Ctrl-C stops everything)"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

unit: install
	$(BIN)/python -m pytest tests/unit

# The bench also runs Celery side by side (rows C6 and C9's comparison).
$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
