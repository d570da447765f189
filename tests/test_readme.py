"""The README is the front door: its five-minute walk runs as written against the
service, every link `make run` prints answers 200, and every relative link of the README
and docs/ leads to a file (and heading) that exists.

The walk is the README's ```sh blocks marked `<!-- walk -->`, run in order as one bash
script with -euo pipefail. It needs what `make run` gives a newcomer: the staff account
of the README's `make run` line and the registry simulator's demo population (the test
session's registry serves tests/support/citizens instead), so this test starts a
simulator of its own on the demo data and the production web tier pointing at it.
"""

import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from devstack.processes import free_port, stop_all
from devstack.registry import start_registry_simulator
from devstack.web import printed_links
from pollsite.defaults import embedded_registry_url
from tests.support.stack import AppServer, app_env, manage

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
WALK_BLOCK = re.compile(r"^<!-- walk -->\n```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# Names the step of the walk that failed (curl -f alone says only "error: 404").
ON_ERROR = "trap 'echo \"walk failed, line $((LINENO - 1)): $BASH_COMMAND\" >&2' ERR\n"
MAKE_RUN_LINE = re.compile(r"^ADMIN_USERNAME=(\S+) ADMIN_PASSWORD=(\S+) make run\b", re.MULTILINE)


def readme_walk():
    """The walk's shell blocks, in order, as one script."""
    blocks = WALK_BLOCK.findall(README.read_text())
    assert blocks, "README.md has no ```sh block marked <!-- walk -->"
    return "\n".join(blocks)


def readme_admin():
    """(username, password) of the staff account the README's `make run` line makes."""
    found = MAKE_RUN_LINE.search(README.read_text())
    assert found, "README.md shows no `ADMIN_USERNAME=... ADMIN_PASSWORD=... make run` line"
    return found.groups()


@pytest.fixture
def demo_registry(tmp_path):
    """The registry simulator as `make run` starts it: its demo population, no CSV."""
    env = {k: v for k, v in os.environ.items() if k != "REGISTRY_SIM_DATA"}
    port = free_port()
    child = start_registry_simulator(port, env=env, log=tmp_path / "registry.log")
    yield embedded_registry_url(port)
    stop_all([child])


@pytest.fixture
def readme_server(demo_registry):
    """The web tier as `make run` serves it, on the test database, with the demo registry
    and the README's staff account."""
    username, password = readme_admin()
    env = app_env(REGISTRY_URL=demo_registry, ADMIN_USERNAME=username, ADMIN_PASSWORD=password)
    manage(["ensure_admin"], env=env)
    server = AppServer(env, workers=1)
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_the_readme_walk_runs_as_written(readme_server, capsys):
    walk = readme_walk()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as fresh:  # a fresh shell, in a folder of its own
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", ON_ERROR + walk],
            env={**os.environ, "PORT": str(readme_server.web.port)},
            cwd=fresh,
            capture_output=True,
            text=True,
            timeout=120,
        )
    with capsys.disabled():
        print(f"\nREADME walk: exit {done.returncode} in {time.monotonic() - started:.1f}s")
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"


def heading_anchors(markdown):
    """The anchors GitHub makes of a page's headings."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_every_relative_link_of_the_readme_and_docs_leads_somewhere():
    broken = []
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\((?!https?:)([^)\s]+)\)", page.read_text()):
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and anchor not in heading_anchors(linked.read_text()):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken


@pytest.mark.django_db(transaction=True)
def test_every_link_make_run_prints_answers_200(web_server):
    links = printed_links(web_server.url)
    assert {name for name, _ in links} >= {"API", "Docs", "Admin", "Health"}
    for name, url in links:
        answer = httpx.get(url, timeout=10)  # no redirect followed: the link itself answers
        assert answer.status_code == 200, f"{name} {url}: {answer.status_code}"
