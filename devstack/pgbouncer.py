"""PgBouncer, Debian's package, run as our direct child under a user of its own (it
refuses to run as root), in transaction pooling: `make cluster` (devstack/cluster.py).

Two entries: `polls` pools connections to the primary, `polls_replica` to the streaming
replica. The API connects here (DATABASE_POOL_MODE=transaction); what needs a session
(LISTEN, advisory locks, migrations, the job workers) connects to PostgreSQL directly.
"""

import os
import shutil
import signal
from pathlib import Path

from devstack.postgres import grant_traversal, pg_ready
from devstack.processes import Child, port_in_use, service_user, wait_until

PGBOUNCER_USER = "pgbouncer"  # its own user: it refuses root, and owes nothing to postgres'
INSTALL_HINT = "apt-get install pgbouncer (Debian's package; devstack/install-pgbouncer)"


def pgbouncer_binary():
    """The installed pgbouncer, or None."""
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if Path(p).exists()), None
    )


def pgbouncer_config(directory, *, port, databases, pool_size, max_clients):
    """pgbouncer.ini and its auth file in `directory`; `databases` maps an entry's name
    to (port, dbname) on 127.0.0.1."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = "\n".join(
        f"{name} = host=127.0.0.1 port={pg_port} dbname={dbname}"
        for name, (pg_port, dbname) in databases.items()
    )
    (directory / "userlist.txt").write_text('"postgres" ""\n')
    ini = directory / "pgbouncer.ini"
    ini.write_text(
        f"""[databases]
{entries}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
; Development servers trust loopback; docker-compose.cluster.yml uses scram-sha-256.
auth_type = trust
auth_file = {directory / "userlist.txt"}
; A server connection goes back to the pool at each transaction's end: 1,000 clients
; share pool_size connections to PostgreSQL. The API sends no session state (no SET,
; no LISTEN, no advisory lock, no named cursor; pollsite/settings.py says how).
pool_mode = transaction
default_pool_size = {pool_size}
; As many clients as the API nodes' threads and more: a client past it is refused.
max_client_conn = {max_clients}
; psycopg2 sends no startup options here (DATABASE_POOL_MODE=transaction); the limits
; come from the role's defaults (manage.py set_role_defaults).
ignore_startup_parameters = extra_float_digits
; A server that died is noticed at once, and a client waits at most this for one.
server_login_retry = 1
query_wait_timeout = 10
logfile =
pidfile =
admin_users = postgres
stats_users = postgres
"""
    )
    return ini


def start_pgbouncer(directory, port, *, databases, pool_size, max_clients=4000, log):
    binary = pgbouncer_binary()
    if binary is None:
        raise RuntimeError(f"PgBouncer is not installed: {INSTALL_HINT}")
    if port_in_use(port):
        raise RuntimeError(f"port {port} is taken; set PGBOUNCER_PORT to another one")
    ini = pgbouncer_config(
        directory, port=port, databases=databases, pool_size=pool_size, max_clients=max_clients
    )
    user = service_user(PGBOUNCER_USER)
    if user:
        import pwd

        pw = pwd.getpwnam(user)
        for path in (directory, *directory.iterdir()):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        grant_traversal(directory, user)
    # SIGINT: PgBouncer's "safe shutdown" (waits for transactions in flight to end).
    child = Child("pgbouncer", [binary, str(ini)], stop_signal=signal.SIGINT, log=log, user=user)
    wait_until(lambda: pg_ready(port, "pgbouncer"), child, "PgBouncer")
    return child


def server_connections(port, database):
    """SHOW SERVERS: how many connections PgBouncer holds to `database`'s server (in use
    or idle). Its own count: through HAProxy, pg_stat_activity shows HAProxy's ports."""
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="pgbouncer")
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW SERVERS")
            names = [c.name for c in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()
    return sum(row["database"] == database for row in rows)
