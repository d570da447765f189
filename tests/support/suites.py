"""Which suite a pytest run is: the fast one unless the command line says otherwise.

Loaded with `-p tests.support.suites` (pyproject.toml). A plain `pytest` (`make test`)
runs the fast, deterministic suite: tests marked `reliability` (faults, load, fuzzing)
or `cluster` (the multi-node cluster) are deselected, as if `-m` had said so. Every test
in tests/reliability and tests/cluster has its folder's marker. Any of these runs them
as well:

- naming a path: `pytest tests/reliability/test_canary.py`, a directory, or a node id;
- choosing markers: `pytest -m reliability` (`make reliability`), `-m cluster`;
- `--all-suites`: everything the tests folder holds.
"""

import pytest

SLOW_SUITES = ("reliability", "cluster")
FAST_SUITE = " and ".join(f"not {marker}" for marker in SLOW_SUITES)


def pytest_addoption(parser):
    parser.addoption(
        "--all-suites",
        action="store_true",
        help="with no path and no -m, also run the reliability and cluster tests",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # As if -m had said so: pytest deselects them, and says how many.
    if runs_fast_suite_only(config):
        config.option.markexpr = FAST_SUITE


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config, items):
    """A test in tests/reliability or tests/cluster is in that suite, marked or not."""
    for item in items:
        for suite in SLOW_SUITES:
            if config.rootpath / "tests" / suite in item.path.parents:
                item.add_marker(suite)


def runs_fast_suite_only(config):
    return (
        config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not config.option.markexpr
        and not config.option.all_suites
    )


def pytest_report_header(config):
    if config.option.markexpr == FAST_SUITE:
        return "suite: fast (make reliability, make cluster-test: the others; make test-all: all)"
    return None
