"""Job workers for tests: `manage.py procrastinate worker` processes on the test database."""

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from tests.support.stack import app_env

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def workers(count, **env):
    """`count` worker processes on the test database; stopped (SIGTERM) on exit."""
    environment = app_env(LOG_LEVEL="WARNING", **env)
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "procrastinate", "worker"], env=environment, cwd=ROOT
        )
        for _ in range(count)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            proc.wait(40)
