"""Which suite a pytest run is: the fast one unless the command line says otherwise.

Loaded with `-p tests.support.suites` (pyproject.toml). A plain `pytest` (`make test`)
runs the fast, deterministic suite: tests marked `reliability` (faults, load, fuzzing)
or `cluster` (the multi-node cluster) are deselected, as if `-m` had said so. Any
of these runs them as well:

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
    # Set as the -m option, so that pytest-xdist hands the same choice to its workers.
    if runs_fast_suite_only(config):
        config.option.markexpr = FAST_SUITE


def runs_fast_suite_only(config):
    return (
        config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not config.option.markexpr
        and not config.option.all_suites
    )


def pytest_report_header(config):
    if config.option.markexpr == FAST_SUITE:
        return (
            "suite: the fast one; the reliability and cluster tests run in "
            "`make reliability`, `make cluster-test` and `make test-all` (or name their path)"
        )
    return None
