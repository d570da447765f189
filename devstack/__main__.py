"""python -m devstack run | cluster: what `make run` (devstack/run.py) and `make cluster`
(devstack/cluster.py) call."""

import sys

if __name__ == "__main__":
    if sys.argv[1:] == ["run"]:
        from devstack.run import run

        sys.exit(run())
    if sys.argv[1:] == ["cluster"]:
        from devstack.cluster import run_cluster

        sys.exit(run_cluster())
    sys.exit("usage: python -m devstack run | cluster")
