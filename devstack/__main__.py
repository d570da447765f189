"""python -m devstack run: what `make run` calls (devstack/run.py)."""

import sys

from devstack.run import run

if __name__ == "__main__":
    if sys.argv[1:] != ["run"]:
        sys.exit("usage: python -m devstack run")
    sys.exit(run())
