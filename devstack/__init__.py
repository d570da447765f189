"""The embedded development stack: PostgreSQL 18 and Redis from wheels, the registry
simulator, and the app's web tier, all as children of one supervisor.

`make run` calls `python -m devstack run` (devstack/run.py); the test suite and the
benchmarks use the same functions for their throwaway servers (tests/support/plugin.py,
bench/stack.py). Modules by concern: processes (children that die with us), postgres,
redis, registry (the simulator's starter), web (nginx, granian, uvicorn), supervisor
(restarts) and run (`make run`). Nothing here is imported by the app's settings: their
development defaults come from pollsite/defaults.py, which devstack reads too.
"""

from pollsite.defaults import BASE_DIR, VAR_DIR

__all__ = ["BASE_DIR", "VAR_DIR"]
