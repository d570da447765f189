"""The scenario's knobs, all from the environment (docs/benchmarks.md, "Load testing")."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
OUT_DIR = Path(os.environ.get("LOADTEST_OUT", VAR_DIR / "loadtest"))


def _env(name, default, kind, what):
    value = os.environ.get(name, "")
    try:
        return kind(value) if value else default
    except ValueError:
        raise SystemExit(f"{name} must be {what}, not {value!r}") from None


def env_int(name, default):
    return _env(name, default, int, "an integer")


def env_float(name, default):
    return _env(name, default, float, "a number")


POLLS = env_int("LOADTEST_POLLS", 10)
OPTIONS = env_int("LOADTEST_OPTIONS", 3)
# How many verified voters to make (or read); 0 means one per simulated user.
VOTERS = env_int("LOADTEST_VOTERS", 0)
TOKENS_FILE = os.environ.get("LOADTEST_TOKENS_FILE", "")
VOTER_PASSWORD = os.environ.get("LOADTEST_VOTER_PASSWORD", "loadtest-voter-pass-2026")
ADMIN_USERNAME = os.environ.get("LOADTEST_ADMIN_USERNAME") or os.environ.get("ADMIN_USERNAME", "")
ADMIN_PASSWORD = os.environ.get("LOADTEST_ADMIN_PASSWORD") or os.environ.get("ADMIN_PASSWORD", "")
DATABASE_URL = os.environ.get("LOADTEST_DATABASE_URL", "")
STREAM_SECONDS = env_float("LOADTEST_STREAM_SECONDS", 5.0)
WAIT_MIN = env_float("LOADTEST_WAIT_MIN", 0.2)
WAIT_MAX = env_float("LOADTEST_WAIT_MAX", 1.0)

# The mix: relative weights of the voters' tasks.
WEIGHTS = {
    "results": env_int("LOADTEST_W_RESULTS", 6),
    "revalidate": env_int("LOADTEST_W_REVALIDATE", 6),
    "vote": env_int("LOADTEST_W_VOTE", 3),
    "polls": env_int("LOADTEST_W_POLLS", 1),
    "stream": env_int("LOADTEST_W_STREAM", 1),
}
