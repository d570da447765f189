"""Defaults that settings share with processes that do not boot Django.

The development stack (devstack/) starts its embedded servers on these ports, and settings
point at the same ones when DATABASE_URL, REDIS_URL or REGISTRY_URL is unset; the registry
simulator (registry_simulator/) reads the registry settings with the same defaults as the
app. Plain values and the URLs built from them: this module imports neither Django nor
devstack, so settings can use it without loading a process supervisor.
"""

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

EMBEDDED_PG_PORT = 54329
EMBEDDED_REDIS_PORT = 63799
EMBEDDED_REGISTRY_PORT = 8001
DATABASE_NAME = "polls"

NATIONAL_ID_SCHEME = "za"
VOTING_AGE = 18
REGISTRY_CLIENT_ID = "poll-service"

# The results stream's capacity, which the front (devstack/web.py) sizes itself to: how
# many streams one stream process holds (two processes by default: 4,000 in all), and the
# front's limits for one client address.
STREAM_WORKERS = 2
RESULTS_STREAM_CAPACITY = 2000
STREAMS_PER_CLIENT = 256
STREAM_OPENS_PER_SECOND = 20  # per client address, after a burst of STREAMS_PER_CLIENT


def embedded_pg_port():
    return int(os.environ.get("EMBEDDED_PG_PORT", EMBEDDED_PG_PORT))


def embedded_redis_port():
    return int(os.environ.get("EMBEDDED_REDIS_PORT", EMBEDDED_REDIS_PORT))


def embedded_registry_port():
    return int(os.environ.get("EMBEDDED_REGISTRY_PORT", EMBEDDED_REGISTRY_PORT))


def embedded_database_url(port=None):
    return f"postgres://postgres@127.0.0.1:{port or embedded_pg_port()}/{DATABASE_NAME}"


def embedded_redis_url(port=None):
    return f"redis://127.0.0.1:{port or embedded_redis_port()}/0"


def embedded_registry_url(port=None):
    return f"http://127.0.0.1:{port or embedded_registry_port()}"


def development_secret(name):
    """The development value of secret `name`: generated once and kept under var/."""
    path = VAR_DIR / "secrets" / name.lower()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Several processes (workers, the simulator) may start at once. Write a private
        # temp file, then link it into place: the link either publishes a complete file
        # or fails because another process already did, so nobody reads a half-written one.
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
