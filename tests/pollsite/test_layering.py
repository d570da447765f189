"""The site package is plumbing: no module in pollsite/ imports an app, the dev stack or
the benchmarks, except URL routing, which has to name the apps' URLs. (Settings name
apps by dotted strings, which Django resolves.)"""

import ast
from pathlib import Path

import pytest

import pollsite

PACKAGE = Path(pollsite.__file__).parent
OUTSIDE_THE_SITE = {
    "polls",
    "identity",
    "devstack",
    "bench",
    "migrations_extra",
    "registry_simulator",
}
ROUTING = {"urls.py"}


def imported_top_levels(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if p.name not in ROUTING),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_it_imports_no_app_and_no_dev_stack(path):
    assert set(imported_top_levels(path)) & OUTSIDE_THE_SITE == set()
