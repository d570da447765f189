"""The layers, from the ground up: pollsite (the site's plumbing), migrations_extra (the
SQL files and the glue that installs them), identity, polls, webhooks. A module imports
only from its own layer and those below it, so no arrow runs up: the site names no app
(except URL routing, which has to name the apps' URLs; settings name apps by dotted
strings, which Django resolves), identity knows no poll, and polls never names webhooks
(webhooks follows polls' lifecycle events through the signal it connects in
WebhooksConfig.ready). No module of these imports one of them inside a function, the way
a circle is held together, but for AppConfig.ready, which Django runs once every app is
loaded."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["pollsite", "migrations_extra", "identity", "polls", "webhooks"]
NEVER_FROM_PRODUCT_CODE = {"devstack", "bench", "loadtest", "registry_simulator", "tests"}
# Routing names the apps: the URLs, and the GraphQL schema's root fields, which are the
# URLs of GraphQL (pollsite/graphql/schema.py puts each app's types together).
ROUTING = {Path("pollsite/urls.py"), Path("pollsite/graphql/schema.py")}


def modules():
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            if "migrations" not in path.relative_to(ROOT).parts:
                yield path.relative_to(ROOT)


def imports(path):
    """(top-level package, node, whether inside a function) of each absolute import."""
    tree = ast.parse((ROOT / path).read_text())
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function |= {id(sub) for sub in ast.walk(node) if sub is not node}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            yield name.split(".")[0], node, id(node) in in_function


@pytest.mark.parametrize("path", list(modules()), ids=str)
def test_it_imports_only_from_its_layer_and_below(path):
    layer = LAYERS.index(path.parts[0])
    above = set(LAYERS[layer + 1 :]) | NEVER_FROM_PRODUCT_CODE
    if path in ROUTING:
        above -= set(LAYERS)
    imported = {package for package, _, _ in imports(path)}
    assert imported & above == set()


@pytest.mark.parametrize("path", list(modules()), ids=str)
def test_it_imports_the_apps_at_the_top(path):
    inside = [
        node.lineno
        for package, node, in_function in imports(path)
        if in_function and package in LAYERS
    ]
    if path.name == "apps.py":
        return  # AppConfig.ready: Django's place for what needs every app loaded
    assert inside == [], f"{path}: imports inside a function at lines {inside}"
