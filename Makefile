# Autobuild: the commands of the contract (see README.md and docs/).
#
#   make setup      system packages (apt, when missing), .venv, the project with its test extras
#   make services   Redis, a Docker daemon and a registry, started only when they do not answer
#   make test       setup + services, the lint checks, then every test (unit and integration); what .ci/run runs
#   make lint       ruff check, ruff format --check, mypy on the code (strict) and on the tests
#   make unit       the unit tests alone (no services needed)
#   make run        setup + services, then the web UI and one worker (Procfile); Ctrl-C stops them
#   make demo-push  commit to the demo repository and send its signed webhook (with make run up)
#   make bench      setup + services, then the full benchmarks (docs/performance.md; < 15 min)
#   make bench-quick  the same, one round and short runs (< 2 min)
#   make services-stop / services-status

SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=
LINT_PATHS := app worker buildrules core cli bench

.DEFAULT_GOAL := help
.PHONY: help setup services services-stop services-status test unit lint run demo-push bench bench-quick

help:
	@sed -n 's/^#   //p' Makefile

setup:
	@scripts/setup.sh

services: setup
	@scripts/services.sh start

services-stop:
	@scripts/services.sh stop

services-status:
	@scripts/services.sh status

# What make lint and make test check (pre-commit runs the same tools: .pre-commit-config.yaml).
define lint_checks
$(VENV)/bin/ruff check .
$(VENV)/bin/ruff format --check .
$(VENV)/bin/mypy $(LINT_PATHS) tests
endef

test: setup services
	$(lint_checks)
	$(PYTHON) -m pytest -p no:cacheprovider $(PYTEST_ARGS) tests

# Unit tests only: no services needed.
unit: setup
	$(PYTHON) -m pytest -p no:cacheprovider -m "not integration" $(PYTEST_ARGS) tests

lint: setup
	$(lint_checks)

run: setup services
	@scripts/run.sh

demo-push: setup
	$(VENV)/bin/autobuild demo-push $(DEMO_ARGS)

# Benchmarks (issue 8): tables, then one `ratio NAME VALUE` line per figure, last.
bench: setup services
	$(PYTHON) -m bench

bench-quick: setup services
	$(PYTHON) -m bench --quick
