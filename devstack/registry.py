"""The registry simulator (registry_simulator/), run as our direct child."""

import sys

from devstack.processes import Child, port_in_use, wait_until


def start_registry_simulator(port, *, env, log=None):
    """The development national registry, on 127.0.0.1:port. It prints usable numbers."""
    if port_in_use(port):
        raise RuntimeError(
            f"port {port} is taken; set EMBEDDED_REGISTRY_PORT, or REGISTRY_URL to use that one"
        )
    args = [sys.executable, "-m", "registry_simulator", "--host", "127.0.0.1", "--port", str(port)]
    child = Child("registry", args, env=env, log=log)
    wait_until(lambda: port_in_use(port), child, "the registry simulator")
    return child
