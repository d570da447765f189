"""Child processes that die with the supervisor, and the port and readiness helpers.

Every child is tied to this process with PR_SET_PDEATHSIG: when the supervisor dies, even
by SIGKILL, the kernel signals its children and no server outlives it.
"""

import contextlib
import ctypes
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1


def say(message):
    print(f"[devstack] {message}", flush=True)


def die_with_parent(sig):
    def set_pdeathsig():
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig)

    return set_pdeathsig


class Child:
    """A child process that dies with us, and that we stop with its own polite signal."""

    def __init__(self, name, args, *, stop_signal=signal.SIGTERM, log=None, user=None, env=None):
        self.name = name
        self.stop_signal = stop_signal
        out = open(log, "ab") if log else None  # noqa: SIM115 - the child owns it
        self.popen = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            env=env,
            **as_user(user),
            # Own process group: a Ctrl-C reaches the supervisor only, which then stops
            # the children in order (app first, databases last).
            start_new_session=True,
            preexec_fn=die_with_parent(stop_signal),
        )
        if out:
            out.close()

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def kill_leftovers(self):
        """SIGKILL what is left of the child's process group: the workers of a server
        whose master died would otherwise keep its port (PR_SET_PDEATHSIG ties only the
        master to us)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)

    def stop(self, timeout=15):
        if not self.alive():
            return
        self.popen.send_signal(self.stop_signal)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop in {timeout}s; killing it")
            self.popen.kill()
            self.popen.wait()


def stop_all(children):
    for child in reversed(children):
        child.stop()


# free_port picks from LOWEST_PICKED_PORT up to the kernel's ephemeral range. A port in
# that range (what binding port 0 gives) is free only until the kernel hands it out again,
# as the local end of an outgoing connection or to anything else that binds port 0; a
# cluster picks its ports minutes before its last service binds them, and one CI run lost
# the whole cluster suite to that ("port 59829 is taken"). Below the range only a process
# that names the port can take it.
LOWEST_PICKED_PORT = 10_000
_random = random.SystemRandom()  # not the module's state: no two forks draw alike


def free_port():
    """A port on 127.0.0.1 that nothing uses now, below the ephemeral range (one the
    kernel gives, where that range starts too low to leave room under it)."""
    low = _ephemeral_range_start()
    if low < LOWEST_PICKED_PORT + 1_000:
        return _bound_port(0)
    for _ in range(200):
        port = _bound_port(_random.randrange(LOWEST_PICKED_PORT, low))
        if port:
            return port
    raise RuntimeError(f"no free port between {LOWEST_PICKED_PORT} and {low}")


def _bound_port(port):
    """The port a socket could bind on 127.0.0.1 (0: the kernel picks), or None if it
    could not: in use, or its connections still in TIME_WAIT."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return None
        return s.getsockname()[1]


def _ephemeral_range_start():
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default, and what other systems' ranges stay above


def port_in_use(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(ready, child, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{what} exited during start-up (code {child.popen.returncode})")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} was not ready after {timeout:.0f}s")


def as_user(user):
    """Popen arguments that run a child as `user` with its own group and no others.

    `user=` alone changes only the uid: the child would keep root's groups, and the
    kernel would then judge root-owned folders by their group bits, not the "other"
    bits that grant_traversal sets.
    """
    if not user:
        return {}
    import pwd

    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def service_user(name):
    """None when we are not root; else the system user `name`, created if missing: the
    servers that refuse to run as root (PostgreSQL, PgBouncer) run as one of their own."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", name],
            check=True,
            capture_output=True,
        )
    return name
