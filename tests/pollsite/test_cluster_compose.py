"""docker-compose.cluster.yml, the multi-host topology, and the files it runs, checked
statically (no Docker engine here): every name it refers to is one of its services, the
API alone goes through PgBouncer, whatever needs a session goes straight to the leader
through HAProxy, PostgreSQL runs under Patroni on three nodes with etcd's three members
and `make cluster`'s failover settings, Redis is two servers behind three sentinels and
never persists, and the front is given every variable its template names."""

import configparser
import ipaddress
import re
import shlex
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from devstack.patroni import FAILOVER, FAILOVER_PARAMETERS, haproxy_config
from devstack.patroni import PatroniNode as Node
from devstack.web import API_HEADROOM, WebSizing

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.cluster.yml"
PGBOUNCER = ROOT / "deploy" / "pgbouncer"
SENTINEL_CONF = ROOT / "deploy" / "sentinel" / "sentinel.conf"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
PATRONI = ROOT / "deploy" / "patroni"
HAPROXY = ROOT / "deploy" / "haproxy"
ETCD = ROOT / "deploy" / "etcd"

SERVICES = {
    "etcd-1",
    "etcd-2",
    "etcd-3",
    "postgres-1",
    "postgres-2",
    "postgres-3",
    "haproxy",
    "pgbouncer",
    "redis-1",
    "redis-2",
    "sentinel-1",
    "sentinel-2",
    "sentinel-3",
    "api-1",
    "api-2",
    "stream-1",
    "stream-2",
    "worker-1",
    "worker-2",
    "reconciler-1",
    "reconciler-2",
    "registry",
    "migrate",
    "front",
}
ONE_SHOT = {"migrate"}
URL_VARIABLES = {"DATABASE_URL", "DATABASE_REPLICA_URL", "REDIS_SENTINELS", "REGISTRY_URL"}
# Roles whose connections hold session state: LISTEN, advisory locks, psycopg's pool.
SESSION_ROLES = {"stream": 2, "worker": 2, "reconciler": 2, "migrate": 1}
SECRETS = (
    "SECRET_KEY",
    "NATIONAL_ID_HMAC_KEY",
    "REGISTRY_CLIENT_SECRET",
    "POSTGRES_PASSWORD",
    "REPLICATION_PASSWORD",
)
# HAProxy's ports (deploy/haproxy/haproxy.cfg): the leader, a replica.
LEADER_PORT, REPLICA_PORT = 5000, 5001
# Names the cluster gives differently from docker-compose.yml (its topology).
TOPOLOGY_VARIABLES = {"DATABASE_URL", "REDIS_URL", "TRUSTED_PROXIES"}
PLACEHOLDER = re.compile(r"\$\{[^}]*\}")


def search(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    found = re.search(pattern, text, flags)
    assert found, (pattern, text)
    return found


def fullmatch(pattern: str, text: str) -> re.Match[str]:
    found = re.fullmatch(pattern, text)
    assert found, (pattern, text)
    return found


def compose():
    return yaml.safe_load(COMPOSE.read_text())


def single_host():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def services():
    return compose()["services"]


def environment(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return env


def role(name):
    return re.sub(r"-\d+$", "", name)


def nodes(of_role):
    return sorted(name for name in services() if role(name) == of_role)


def app_services():
    """The services built from the project's own Dockerfile."""
    return {name: s for name, s in services().items() if s.get("build") in (".", "./")}


def parse_url(value):
    # A ${VAR:?message} may hold `?` and spaces, which would end a URL's host part.
    return urlsplit(PLACEHOLDER.sub("placeholder", value))


def sentinel_addresses(value):
    return [tuple(entry.strip().rsplit(":", 1)) for entry in value.split(",")]


def hosts(variable, value):
    if variable == "REDIS_SENTINELS":
        return [host for host, _ in sentinel_addresses(value)]
    return [parse_url(value).hostname]


def command(service):
    value = service.get("command") or []
    return shlex.split(value) if isinstance(value, str) else list(value)


def runs(service):
    entrypoint = service.get("entrypoint") or []
    entrypoint = shlex.split(entrypoint) if isinstance(entrypoint, str) else list(entrypoint)
    return entrypoint + command(service)


def option(argv, flag):
    """The value after `flag` in argv (a KeyError if absent)."""
    if flag not in argv:
        raise KeyError(flag)
    return argv[argv.index(flag) + 1]


def mounts(service):
    """container path -> host path, for the bind mounts of files of this repository."""
    found = {}
    for volume in service.get("volumes", []):
        host, container, *_ = volume.split(":")
        if host.startswith("./"):
            found[container] = (ROOT / host).resolve()
    return found


def mounted_script(service):
    """The script a service's entrypoint runs, read from the repository."""
    script = next(arg for arg in runs(service) if arg.endswith(".sh"))
    return mounts(service)[script].read_text()


def patroni_yml():
    return yaml.safe_load((PATRONI / "patroni.yml").read_text())


def dockerfile_lines(folder):
    text = (folder / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if not line.startswith("#")]


def haproxy_sections(text):
    """{"listen primary": [directive, ...], ...} of an haproxy.cfg, comments left out."""
    sections, current = {}, None
    for line in text.splitlines():
        line = line.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line.startswith(" "):
            current = sections.setdefault(line.strip(), [])
        else:
            current.append(" ".join(line.split()))
    return sections


def pgbouncer_ini():
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string((PGBOUNCER / "pgbouncer.ini").read_text())
    return ini


def pgbouncer_databases():
    return {
        name: dict(pair.split("=", 1) for pair in value.split())
        for name, value in pgbouncer_ini()["databases"].items()
    }


def sentinel_directives():
    lines = [line.split("#", 1)[0].split() for line in SENTINEL_CONF.read_text().splitlines()]
    return [line for line in lines if line]


def monitor():
    [directive] = [d for d in sentinel_directives() if d[:2] == ["sentinel", "monitor"]]
    name, host, port, quorum = directive[2:]
    return name, host, int(port), int(quorum)


def redis_services():
    return {name: s for name, s in services().items() if s.get("image", "").startswith("redis:")}


def sentinels():
    return sorted(n for n, s in redis_services().items() if "sentinel" in " ".join(runs(s)))


def redis_servers():
    return sorted(n for n, s in redis_services().items() if runs(s)[:1] == ["redis-server"])


def front_ip():
    return compose()["services"]["front"]["networks"]["web"]["ipv4_address"]


def test_it_runs_the_whole_topology():
    assert set(services()) == SERVICES
    assert nodes("api") == ["api-1", "api-2"]
    assert nodes("stream") == ["stream-1", "stream-2"]
    assert set(app_services()) == {
        name for name in SERVICES if role(name) in {"api", "stream", "worker", "reconciler"}
    } | {"registry", "migrate"}


def test_every_dependency_is_a_service():
    checked = 0
    for name, service in services().items():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, (name, dependency)
            assert dependency != name
            checked += 1
    assert checked


def test_the_app_starts_after_its_migrations():
    for name, service in app_services().items():
        if name in {"registry", "migrate"}:
            continue
        depends = service["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        for sentinel in sentinels():
            assert depends[sentinel]["condition"] == "service_healthy", (name, sentinel)
    migrate = services()["migrate"]["depends_on"]
    assert migrate == {"haproxy": {"condition": "service_healthy"}}


def test_every_host_in_a_url_is_a_service():
    for name, service in app_services().items():
        env = environment(service)
        for variable in ("DATABASE_URL", "REDIS_SENTINELS", "REGISTRY_URL"):
            assert variable in env, (name, variable)
        for variable in URL_VARIABLES & set(env):
            for host in hosts(variable, env[variable]):
                assert host in SERVICES, (name, variable, host)
    registry = parse_url(environment(services()["api-1"])["REGISTRY_URL"])
    assert str(registry.port) == option(command(services()["registry"]), "--port")


def test_the_api_nodes_go_through_pgbouncer_in_transaction_mode():
    port = int(pgbouncer_ini()["pgbouncer"]["listen_port"])
    databases = pgbouncer_databases()
    for name in nodes("api"):
        service = services()[name]
        env = environment(service)
        assert env["DATABASE_POOL_MODE"] == "transaction", name
        primary, replica = parse_url(env["DATABASE_URL"]), parse_url(env["DATABASE_REPLICA_URL"])
        assert (primary.hostname, primary.port) == ("pgbouncer", port), name
        assert (replica.hostname, replica.port) == ("pgbouncer", port), name
        # Each names a PgBouncer database, and each of those its own HAProxy port.
        assert databases[primary.path.lstrip("/")]["port"] == str(LEADER_PORT)
        assert databases[replica.path.lstrip("/")]["port"] == str(REPLICA_PORT)
        assert service["depends_on"]["pgbouncer"]["condition"] == "service_healthy"
        assert "command" not in service  # the image's: granian
    assert "granian" in (ROOT / "Dockerfile").read_text().split("\nCMD ")[-1]


def test_whatever_needs_a_session_goes_straight_to_the_leader_through_haproxy():
    superuser = patroni_yml()["postgresql"]["authentication"]["superuser"]["username"]
    for session_role, count in SESSION_ROLES.items():
        names = nodes(session_role)
        assert len(names) == count, session_role
        for name in names:
            env = environment(services()[name])
            url = parse_url(env["DATABASE_URL"])
            assert (url.hostname, url.port) == ("haproxy", LEADER_PORT), name
            assert url.path == "/polls", name
            assert url.username == superuser, name
            assert "DATABASE_POOL_MODE" not in env, name


def test_the_roles_run_their_commands():
    ours, theirs = services(), single_host()["services"]
    # As docker-compose.yml's, behind this file's front.
    single_stream = " ".join(command(theirs["stream"])).replace(
        theirs["front"]["networks"]["web"]["ipv4_address"], front_ip()
    )
    for name in nodes("stream"):
        assert " ".join(command(ours[name])) == single_stream
    for name in nodes("worker"):
        assert command(ours[name]) == ["python", "manage.py", "procrastinate", "worker"]
    for name in nodes("reconciler"):
        assert command(ours[name]) == ["python", "manage.py", "reconcile_results"]
    assert command(ours["registry"]) == command(theirs["registry"])
    assert command(ours["migrate"]) == [
        "sh",
        "-c",
        "python manage.py migrate --noinput && python manage.py set_role_defaults",
    ]


def test_pgbouncer_pools_transactions_for_both_databases():
    ini = pgbouncer_ini()["pgbouncer"]
    assert ini["pool_mode"] == "transaction"
    assert int(ini["listen_port"]) == 6432
    assert int(ini["default_pool_size"]) == 20
    assert int(ini["max_client_conn"]) == 2000
    assert ini["auth_type"] == "scram-sha-256"
    assert ini.get("auth_file") or ini.get("auth_query")
    assert ini["ignore_startup_parameters"].replace(" ", "").split(",") == ["extra_float_digits"]
    databases = pgbouncer_databases()
    assert set(databases) == {"polls", "polls_replica"}
    assert databases["polls"]["port"] == str(LEADER_PORT)
    assert databases["polls_replica"]["port"] == str(REPLICA_PORT)
    for database in databases.values():
        assert database["host"] == "haproxy"
        assert database["dbname"] == "polls"


def test_pgbouncer_runs_that_config_from_debians_package_and_not_as_root():
    service = services()["pgbouncer"]
    assert (ROOT / service["build"]).resolve() == PGBOUNCER
    assert not service.get("user")
    dockerfile = (PGBOUNCER / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in dockerfile.splitlines() if not line.startswith("#")]
    assert [line for line in lines if line.startswith("FROM ")] == ["FROM debian:bookworm-slim"]
    assert re.search(r"^RUN .*apt-get install -y\b[^&;|]*\spgbouncer\b", dockerfile, re.M)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users, "no USER: PgBouncer would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert "COPY pgbouncer.ini /etc/pgbouncer/pgbouncer.ini" in lines
    # The entrypoint writes the auth_file the config reads, and runs that config.
    entrypoint = (PGBOUNCER / "entrypoint.sh").read_text()
    assert pgbouncer_ini()["pgbouncer"]["auth_file"] in entrypoint
    assert re.search(r"^exec pgbouncer /etc/pgbouncer/pgbouncer.ini$", entrypoint, re.M)
    assert "${POSTGRES_PASSWORD:?" in entrypoint
    assert "POSTGRES_PASSWORD" in environment(service)


def test_redis_is_two_servers_and_three_sentinels_with_a_quorum_of_two():
    assert redis_servers() == ["redis-1", "redis-2"]
    assert sentinels() == ["sentinel-1", "sentinel-2", "sentinel-3"]
    assert set(redis_servers()) | set(sentinels()) == set(redis_services())
    ours = services()
    assert "--replicaof" not in command(ours["redis-1"])
    assert option(command(ours["redis-2"]), "--replicaof") == "redis-1"
    argv = command(ours["redis-2"])
    assert argv[argv.index("--replicaof") + 2] == "6379"

    name, host, port, quorum = monitor()
    assert (host, port) == ("redis-1", 6379)
    assert quorum == 2 and quorum > len(sentinels()) / 2  # a majority: no lone failover
    directives = sentinel_directives()
    for setting, value in (("down-after-milliseconds", "1000"), ("failover-timeout", "5000")):
        assert ["sentinel", setting, name, value] in directives
    # Read before `sentinel monitor`, whose host is resolved as it is read.
    where = [d[:2] for d in directives].index(["sentinel", "monitor"])
    for setting in ("resolve-hostnames", "announce-hostnames"):
        assert ["sentinel", setting, "yes"] in directives[:where]
    [port_directive] = [d for d in directives if d[0] == "port"]
    for service_name, service in app_services().items():
        env = environment(service)
        assert "REDIS_URL" not in env, service_name
        assert env["REDIS_SENTINEL_MASTER"] == name, service_name
        assert sentinel_addresses(env["REDIS_SENTINELS"]) == [
            (sentinel, port_directive[1]) for sentinel in sentinels()
        ]


def test_each_sentinel_rewrites_a_copy_of_the_config():
    for name in sentinels():
        service = services()[name]
        script = mounted_script(service)
        source, copy = search(r"^cp (\S+) (\S+)$", script, re.M).groups()
        assert mounts(service)[source] == SENTINEL_CONF.resolve(), name
        assert copy not in mounts(service), name  # not the read-only mount
        runs_copy = rf"(redis-sentinel {re.escape(copy)}|redis-server {re.escape(copy)} --sentinel)"
        assert re.search(rf"^exec .*{runs_copy}", script, re.M), name
        assert environment(service)["SENTINEL_ANNOUNCE_HOSTNAME"] == name


def test_no_redis_persists():
    # A cache must never reload an old snapshot: it could hold a stale tally.
    for name in redis_servers():
        argv = command(services()[name])
        assert option(argv, "--save") == "", name
        assert option(argv, "--appendonly") == "no", name


def template_placeholders():
    directives = "\n".join(
        line.split("#", 1)[0] for line in NGINX_TEMPLATE.read_text().splitlines()
    )
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", directives))


def test_the_front_fills_every_placeholder_of_the_template():
    front = environment(services()["front"])
    missing = sorted(template_placeholders() - set(front))
    assert not missing


def test_the_front_balances_over_both_nodes_of_each():
    front = services()["front"]
    env = environment(front)
    for variable, of_role in (("API_SERVERS", "api"), ("STREAM_SERVERS", "stream")):
        directives = [d.strip() for d in env[variable].split(";")]
        assert directives[-1] == "", variable  # every directive ends with `;`
        # The names followed to new addresses (resolve): the group's zone and resolver.
        assert directives[0].startswith("zone ") and directives[1].startswith("resolver ")
        servers = [fullmatch(r"server ([a-z0-9-]+):(\d+)( \S+)*", d) for d in directives[2:-1]]
        assert sorted(m[1] for m in servers) == nodes(of_role), variable
        assert {m[2] for m in servers} == {"8000"}, variable
    assert front["depends_on"] == {
        name: {"condition": "service_healthy"} for name in nodes("api") + nodes("stream")
    }
    # The template, mounted as docker-compose.yml mounts it.
    assert front["volumes"] == single_host()["services"]["front"]["volumes"]
    assert front["image"] == single_host()["services"]["front"]["image"]


def test_the_front_keeps_docker_compose_settings_and_is_sized_for_both_stream_nodes():
    env = environment(services()["front"])
    single = environment(single_host()["services"]["front"])
    # The servers and the sizing are this file's own (the other test above, and below).
    sized = {"API_SERVERS", "STREAM_SERVERS", "WORKER_CONNECTIONS", "WORKER_RLIMIT_NOFILE"}
    sized |= {"API_UPSTREAM", "STREAM_UPSTREAM"}  # docker-compose.yml's, before
    for variable in set(single) - sized:
        assert env[variable] == single[variable], variable
    sizing = WebSizing()
    workers = search(
        r"--workers \$\{STREAM_CONCURRENCY:-(\d+)\}", command(services()["stream-1"])[-1]
    )
    assert int(workers[1]) == sizing.stream_workers
    streams = sizing.stream_capacity * sizing.stream_workers * len(nodes("stream"))
    assert int(env["WORKER_CONNECTIONS"]) == 2 * streams + API_HEADROOM == 20096
    assert int(env["WORKER_RLIMIT_NOFILE"]) == int(env["WORKER_CONNECTIONS"]) + 1024
    assert services()["front"]["ulimits"]["nofile"] >= int(env["WORKER_RLIMIT_NOFILE"])


def test_only_the_front_may_say_who_the_client_is():
    address = ipaddress.ip_address(front_ip())
    [subnet] = compose()["networks"]["web"]["ipam"]["config"]
    assert address in ipaddress.ip_network(subnet["subnet"])
    single_subnet = single_host()["networks"]["web"]["ipam"]["config"][0]["subnet"]
    assert not ipaddress.ip_network(subnet["subnet"]).overlaps(ipaddress.ip_network(single_subnet))
    for name, service in app_services().items():
        assert environment(service)["TRUSTED_PROXIES"] == front_ip(), name
    for name in nodes("stream"):
        assert option(command(services()[name])[-1].split(), "--forwarded-allow-ips") == front_ip()


def test_the_app_gets_what_docker_compose_gives_it():
    single = single_host()["services"]["api"]["environment"]
    for name, service in app_services().items():
        env = environment(service)
        for variable in set(single) - TOPOLOGY_VARIABLES:
            assert env.get(variable) == single[variable], (name, variable)


def test_the_app_reads_every_variable_the_cluster_gives_it():
    """A misspelt setting would be ignored silently: each is one the app reads."""
    from tests.pollsite.test_deployment_files import variables_read

    read = variables_read()
    for name, service in app_services().items():
        unknown = sorted(set(environment(service)) - read)
        assert not unknown, (name, unknown)


def test_every_long_running_service_has_a_healthcheck_and_restarts():
    for name, service in services().items():
        if name in ONE_SHOT:
            # unless-stopped would migrate again and again.
            assert service["restart"] == "on-failure", name
            continue
        assert service.get("restart") == "unless-stopped", name
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, name
        assert not service["healthcheck"].get("disable"), name
    for name in nodes("api") + nodes("stream") + ["front"]:
        assert "/healthz" in " ".join(services()[name]["healthcheck"]["test"]), name


def test_required_secrets_must_be_set():
    text = COMPOSE.read_text()
    used: dict[str, list[str]] = {}
    for match in re.finditer(r"\$\{?(\w+)([^}\s]*)\}?", text):
        used.setdefault(match[1], []).append(match[0])
    for secret in SECRETS:
        assert used.get(secret), secret
        for use in used[secret]:
            assert use.startswith("${" + secret + ":?"), use
    # No password written out in a URL: each is the required variable.
    for name, service in app_services().items():
        for variable, value in environment(service).items():
            if variable.startswith("DATABASE") and variable.endswith("_URL"):
                password = fullmatch(r"postgres://[^:]+:(.+)@[^@]+", value)[1]
                assert re.fullmatch(r"\$\{POSTGRES_PASSWORD:\?[^}]+\}", password), (name, variable)
    for name in nodes("postgres"):
        env = environment(services()[name])
        assert env["PATRONI_SUPERUSER_PASSWORD"].startswith("${POSTGRES_PASSWORD:?"), name
        assert env["PATRONI_REPLICATION_PASSWORD"].startswith("${REPLICATION_PASSWORD:?"), name


def test_etcd_is_three_members_that_know_each_other():
    members = nodes("etcd")
    assert members == ["etcd-1", "etcd-2", "etcd-3"]
    cluster = ",".join(f"{m}=http://{m}:2380" for m in members)
    volumes = set()
    for name in members:
        service = services()[name]
        assert (ROOT / service["build"]).resolve() == ETCD
        argv = command(service)
        assert option(argv, "--name") == name
        assert option(argv, "--advertise-client-urls") == f"http://{name}:2379"
        assert option(argv, "--initial-advertise-peer-urls") == f"http://{name}:2380"
        assert option(argv, "--initial-cluster") == cluster
        [volume] = service["volumes"]
        assert option(argv, "--data-dir").startswith(volume.split(":")[1])
        volumes.add(volume.split(":")[0])
        assert "etcdctl" in service["healthcheck"]["test"]
    assert len(volumes) == len(members)  # each its own data
    lines = dockerfile_lines(ETCD)
    assert [line for line in lines if line.startswith("FROM ")] == ["FROM debian:bookworm-slim"]
    assert re.search(r"apt-get install -y\b[^&;|]*\setcd-server\b", " ".join(lines))
    assert [line.split()[1] for line in lines if line.startswith("USER ")][-1] not in {"root", "0"}


def test_each_postgres_node_runs_patroni_with_make_clusters_failover_settings():
    config = patroni_yml()
    assert config["etcd3"]["hosts"] == ",".join(f"{m}:2379" for m in nodes("etcd"))
    dcs = config["bootstrap"]["dcs"]
    assert {key: dcs[key] for key in FAILOVER} == FAILOVER  # devstack/patroni.py's
    assert dcs["synchronous_mode"] is True and dcs["failsafe_mode"] is True
    assert dcs["postgresql"]["use_pg_rewind"] is True
    parameters = dcs["postgresql"]["parameters"]
    assert {key: parameters.get(key) for key in FAILOVER_PARAMETERS} == FAILOVER_PARAMETERS
    assert config["postgresql"]["bin_dir"] == "/usr/lib/postgresql/18/bin"
    # The app's database, made once by the node that initialises the cluster.
    script = (PATRONI / "post-bootstrap.sh").read_text()
    assert config["bootstrap"]["post_bootstrap"] == "/usr/local/bin/patroni-post-bootstrap.sh"
    assert "CREATE DATABASE polls" in script
    members = nodes("postgres")
    assert members == ["postgres-1", "postgres-2", "postgres-3"]
    volumes = set()
    for name in members:
        service = services()[name]
        assert (ROOT / service["build"]).resolve() == PATRONI
        env = environment(service)
        assert env["PATRONI_NAME"] == name
        assert env["PATRONI_RESTAPI_CONNECT_ADDRESS"] == f"{name}:8008"
        assert env["PATRONI_POSTGRESQL_CONNECT_ADDRESS"] == f"{name}:5432"
        assert {f"etcd-{n}" for n in (1, 2, 3)} <= set(service["depends_on"])
        assert "8008/health" in " ".join(service["healthcheck"]["test"])
        [volume] = service["volumes"]
        volumes.add(volume.split(":")[0])
        assert config["postgresql"]["data_dir"].startswith(volume.split(":")[1])
    assert len(volumes) == len(members)
    lines = dockerfile_lines(PATRONI)
    assert [line for line in lines if line.startswith("FROM ")] == ["FROM postgres:18"]
    assert any("pip install" in line and "requirements.txt" in line for line in lines)
    assert [line.split()[1] for line in lines if line.startswith("USER ")][-1] == "postgres"
    pins = (PATRONI / "requirements.txt").read_text()
    assert re.search(r"^patroni\[etcd3\]==4\.1\.\d+$", pins, re.M)


def test_haproxy_leads_to_the_leader_and_a_replica_as_make_cluster_does():
    text = (HAPROXY / "haproxy.cfg").read_text()
    sections = haproxy_sections(text)
    members = nodes("postgres")
    for listen, port, check in (
        ("listen primary", LEADER_PORT, "/primary"),
        ("listen replica", REPLICA_PORT, "/replica"),
    ):
        directives = sections[listen]
        assert f"bind *:{port}" in directives
        assert f"http-check send meth GET uri {check}" in directives
        servers = [d.split() for d in directives if d.startswith("server ")]
        assert [s[1] for s in servers] == members, listen
        for server in servers:
            assert server[2] == f"{server[1]}:5432"
            assert server[3:6] == ["check", "port", "8008"]
    # One replica at a time: the others are backups.
    replica_servers = [d for d in sections["listen replica"] if d.startswith("server ")]
    assert ["backup" in d for d in replica_servers] == [False, True, True]
    # The same checks and cuts as make cluster's (devstack/patroni.py).
    ours = haproxy_sections(
        haproxy_config(
            Path(tempfile.mkdtemp()), primary_port=1, replica_port=2, nodes=[Node("pg-1", 3, 4)]
        ).read_text()
    )
    for section in ("defaults", "listen replica"):
        assert [
            d for d in ours[section] if d.startswith(("default-server inter", "default-server on-"))
        ] == [
            d
            for d in sections[section]
            if d.startswith(("default-server inter", "default-server on-"))
        ], section
    assert "noreuseport" in sections["global"]
    assert "monitor fail if { nbsrv(primary) lt 1 }" in sections["frontend health"]
    service = services()["haproxy"]
    assert (ROOT / service["build"]).resolve() == HAPROXY
    assert "8404" in " ".join(service["healthcheck"]["test"])
    lines = dockerfile_lines(HAPROXY)
    assert [line for line in lines if line.startswith("FROM ")] == ["FROM debian:bookworm-slim"]
    assert re.search(r"apt-get install -y\b[^&;|]*\shaproxy\b", " ".join(lines))
    assert "COPY haproxy.cfg /etc/haproxy/haproxy.cfg" in lines
    assert [line.split()[1] for line in lines if line.startswith("USER ")][-1] not in {"root", "0"}
