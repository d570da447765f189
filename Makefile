# The front door: `make run` serves the API, `make test` runs the fast tests (a few minutes),
# `make test-all` every suite, as CI does. They create .venv and install the pinned
# requirements on first use.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/base.txt requirements/dev.txt | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help run cluster test reliability cluster-test test-all bench loadtest lint format clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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

# The suites (tests/support/suites.py): with no path in ARGS, `make test` leaves out the tests
# marked reliability or cluster; a path names what to run, whatever its marks.
# The whole fast suite runs in two pytest-xdist workers, each with its own stack (141 s
# against 184 s in one process on 2 cores); with ARGS (a subset, --pdb, -s) in one process,
# unless ARGS says -n 2. The fault suites stay in one: their figures need the cores.
TEST_WORKERS = $(if $(ARGS),0,2)
test: $(STAMP) ## The fast suite: unit, API, database, schema, clients (ARGS goes to pytest)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope -o junit_family=xunit1 --junitxml=test-junit.xml $(ARGS)

reliability: $(STAMP) ## The reliability suite: faults, load, fuzzing (about 13 minutes)
	$(PY) -m pytest -m reliability -s -o junit_family=xunit1 --junitxml=reliability-junit.xml $(ARGS)

cluster-test: $(STAMP) ## The cluster suite: faults and failover on `make cluster`'s nodes (about 9 minutes)
	@devstack/install-pgbouncer || echo "Without PgBouncer the cluster tests skip"
	@devstack/install-cluster-packages || echo "Without etcd, HAProxy or python3-venv the cluster tests skip"
	$(PY) -m pytest -m cluster -s -o junit_family=xunit1 --junitxml=cluster-junit.xml $(ARGS)

# Every suite runs, even after one failed; the run fails if any did, and ends by naming
# the tests that failed (CI shows the tail of a long run).
test-all: $(STAMP) ## Every suite in turn (test, reliability, cluster-test), as CI runs them
	@rm -f test-junit.xml reliability-junit.xml cluster-junit.xml; failed=""; \
	for suite in test reliability cluster-test; do \
		$(MAKE) --no-print-directory $$suite || failed="$$failed $$suite"; \
	done; \
	if [ -n "$$failed" ]; then \
		$(PY) -m tests.support.junit_summary test-junit.xml reliability-junit.xml cluster-junit.xml; \
		echo "make test-all: failed:$$failed" >&2; exit 1; \
	fi

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
