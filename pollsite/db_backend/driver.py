"""Django's PostgreSQL backend on psycopg2, with psycopg 3 installed beside it.

Django 5.2 chooses its driver when its PostgreSQL modules are first imported, by trying
`import psycopg` (3) before psycopg2, and there is no setting for it. procrastinate (the
job engine, polls/tasks.py) depends on psycopg 3 for its workers' own connections, so
installing it would move every Django connection of every process to psycopg 3 as a
side effect. This project's database layer is psycopg2's: the socket health check and
the watchdog of pollsite/db_backend/base.py, the reliability suite and every hot-path
figure were built and measured on it. So Django's PostgreSQL modules are imported here,
once, with psycopg 3 hidden, and keep psycopg2 for the life of the process; psycopg 3
is then there for procrastinate's connections alone (procrastinate's Django connector
follows Django's driver: it defers jobs through Django's psycopg2 connection, in the
caller's transaction).

pin_psycopg2() runs first thing in pollsite/settings.py, which every Django process
reads before it loads an app or a database backend; tests/pollsite/test_db_driver.py
holds a fresh process to that.
"""

import importlib
import sys

BACKEND_MODULES = (
    "django.db.backends.postgresql.psycopg_any",
    "django.db.backends.postgresql.base",
)


def pin_psycopg2() -> None:
    if BACKEND_MODULES[0] in sys.modules:
        # Imported already (by a tool that loads Django's backends before the settings,
        # such as mypy's Django plugin): too late to choose; a connection of
        # pollsite.db_backend refuses to start on anything but psycopg2.
        return
    hidden = {n: m for n, m in sys.modules.items() if n == "psycopg" or n.startswith("psycopg.")}
    for name in hidden:
        del sys.modules[name]
    sys.modules["psycopg"] = None  # type: ignore[assignment]  # import psycopg: ImportError
    try:
        for name in BACKEND_MODULES:
            importlib.import_module(name)
    finally:
        del sys.modules["psycopg"]
        sys.modules.update(hidden)
