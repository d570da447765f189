"""The reliability suite (`make reliability`, marker `reliability`): faults injected into
real servers, each test printing its figure as a `RELIABILITY:` line (see
docs/reliability.md), also kept as a property in the junit report."""

import pytest

from tests.support import stack


@pytest.fixture
def figure(record_property):
    """figure("name", key=value, ...) prints one RELIABILITY line and records it."""

    def report(name, **figures):
        line = " ".join(f"{key}={value}" for key, value in figures.items())
        print(f"\nRELIABILITY: {name}: {line}")
        record_property(f"reliability:{name}", line)

    return report


@pytest.fixture
def scratch():
    directory = stack.scratch_dir()
    yield directory
    stack.remove(directory)
