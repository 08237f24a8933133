# kpikit: the two commands a new user needs.
#   make demo   create .venv, install kpikit, generate the sample org and run the main job on it
#   make test   create .venv, install kpikit with its test tools, and run the whole test suite
# Both need only Python 3.11+ and the package registry.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kpikit-installed
DEMO   ?= demo-output

.PHONY: demo test install lint bench clean help

help:
	@echo "make demo    set up and render the sample org's reports into $(DEMO)/"
	@echo "make test    set up and run the test suite (lint, unit tests, notebooks)"
	@echo "make bench   run the benchmarks (by hand; prints ratios against baselines)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kpikit needs Python 3.11 or newer; run make with PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/kpikit demo $(DEMO)

test: $(STAMP)
	$(BIN)/ruff check kpikit tests benchmarks
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_metrics.py
	$(BIN)/python benchmarks/bench_reports.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .ruff_cache
