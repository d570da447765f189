"""Defaults that settings share with processes that do not boot Django.

The development stack (devstack/) starts its embedded servers on these ports, and settings
point at the same ones when DATABASE_URL, REDIS_URL or REGISTRY_URL is unset; the registry
simulator (registry_simulator/) reads the registry settings with the same defaults as the
app. Plain values and the URLs built from them: this module imports neither Django nor
devstack, so settings can use it without loading a process supervisor.
"""

import os

EMBEDDED_PG_PORT = 54329
EMBEDDED_REDIS_PORT = 63799
EMBEDDED_REGISTRY_PORT = 8001
DATABASE_NAME = "polls"

NATIONAL_ID_SCHEME = "za"
VOTING_AGE = 18
REGISTRY_CLIENT_ID = "poll-service"


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
