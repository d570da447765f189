"""`make run`'s supervisor, for real: devstack run in a folder of its own, on free
ports; its children are killed with SIGKILL and must come back, and Ctrl-C must leave no
process behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from devstack import BASE_DIR
from devstack.processes import free_port


def wait_for(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def answers(url):
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def child_named(supervisor, needle):
    """The supervisor's live direct child whose command line contains `needle`, or None."""
    for child in supervisor.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and needle in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


@pytest.fixture
def stack(tmp_path):
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "REGISTRY_URL")
    }
    env.update(
        VAR_DIR=str(tmp_path / "var"),
        PORT=str(port),
        EMBEDDED_PG_PORT=str(free_port()),
        EMBEDDED_REDIS_PORT=str(free_port()),
        EMBEDDED_REGISTRY_PORT=str(free_port()),
        LOG_LEVEL="WARNING",
    )
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=BASE_DIR,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{base}/readyz"), "make run to be ready", timeout=120)
        yield psutil.Process(process.pid), base, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(60)


@pytest.mark.reliability  # kill -9 of PostgreSQL and of the API server
def test_it_restarts_the_database_and_the_api_server_when_they_die(stack):
    supervisor, base, log = stack
    for needle in ("postgres -D", "granian"):
        victim = child_named(supervisor, needle)
        victim.kill()  # SIGKILL: no chance to clean up

        def replaced(needle=needle, victim=victim):
            child = child_named(supervisor, needle)
            return child is not None and child.pid != victim.pid

        wait_for(replaced, f"a new {needle}")
        wait_for(lambda: answers(f"{base}/readyz"), f"readyz after killing {needle}")
    # The supervisor says "restarted" once its own readiness poll sees the new child,
    # which can be a moment after readyz already answers through nginx: wait for the lines.
    for line in ("postgres exited", "postgres restarted", "api exited", "api restarted"):
        wait_for(lambda line=line: line in log.read_text(), f"'{line}' in the log", timeout=10)


def test_it_leaves_no_process_behind_on_ctrl_c(stack):
    supervisor, base, _ = stack
    everything = supervisor.children(recursive=True)
    assert len(everything) >= 8  # postgres, redis, registry, refresher, reconciler, web tier
    supervisor.send_signal(signal.SIGINT)
    supervisor.wait(60)
    wait_for(
        lambda: not any(p.is_running() and p.status() != "zombie" for p in everything),
        "every child to stop",
        timeout=30,
    )
    assert not answers(f"{base}/healthz")


def test_free_ports_are_below_the_ephemeral_range_so_the_kernel_never_hands_them_out():
    # The kernel gives ports of its ephemeral range to every outgoing connection and every
    # bind to port 0: a port picked there can be gone by the time its service binds it.
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert all(1024 <= port < low for port in ports), ports
    assert len(set(ports)) > 40  # picked at random, not one after another from one place
