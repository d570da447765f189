# The front door: `make run` serves the API, `make test` runs the tests.
# Both create .venv and install the pinned requirements on first use.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/base.txt requirements/dev.txt | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help run cluster test reliability bench loadtest lint format clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements/base.txt requirements/dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned requirements into $(VENV) (once; about a minute)..."
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP) ## Start PostgreSQL, Redis and the API on 127.0.0.1:$PORT (default 8000)
	$(PY) -m devstack run

cluster: $(STAMP) ## The same on several nodes: Patroni failover, PgBouncer, Sentinel (docs/scaling.md)
	@devstack/install-pgbouncer
	@devstack/install-cluster-packages
	$(PY) -m devstack cluster

test: $(STAMP) ## Run the test suite on throwaway PostgreSQL and Redis
	$(PY) -m pytest $(ARGS)

reliability: $(STAMP) ## Run the reliability suite (faults, load, fuzzing; a few minutes)
	$(PY) -m pytest -m reliability -s -o junit_family=xunit1 --junitxml=reliability-junit.xml $(ARGS)

bench: $(STAMP) ## Run the benchmarks and write bench/RESULTS.md
	$(PY) -m bench

# make loadtest: the knobs (README, "Load testing"); the mix is LOADTEST_W_* in the environment.
LOADTEST_HOST ?= http://127.0.0.1:$(or $(PORT),8000)
LOADTEST_USERS ?= 20
LOADTEST_SPAWN_RATE ?= 5
LOADTEST_DURATION ?= 30s
LOADTEST_OUT ?= $(or $(VAR_DIR),var)/loadtest

loadtest: $(STAMP) ## Load scenario (locust) against a running `make run`; checks the counts
	@mkdir -p $(LOADTEST_OUT)
	LOADTEST_OUT=$(LOADTEST_OUT) $(VENV)/bin/locust -f loadtest/locustfile.py --headless \
		--host $(LOADTEST_HOST) -u $(LOADTEST_USERS) -r $(LOADTEST_SPAWN_RATE) \
		-t $(LOADTEST_DURATION) --stop-timeout 15 \
		--csv $(LOADTEST_OUT)/run --html $(LOADTEST_OUT)/report.html

lint: $(STAMP) ## ruff (lint, formatting) and mypy (types, with the Django and DRF stubs)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP) ## ruff: fix what can be fixed and format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean: ## Remove .venv and var/ (all local data)
	rm -rf $(VENV) var staticfiles
