"""Run services and restart any that exits, with exponential backoff."""

import subprocess
import time
from dataclasses import dataclass

from devstack.processes import Child, say, stop_all


@dataclass
class Service:
    name: str
    start: object  # () -> Child
    child: Child | None = None
    started_at: float = 0.0
    delay: float = 0.0
    restart_at: float | None = None


class Supervisor:
    """Runs services and restarts any that exits, with exponential backoff.

    A service that stayed up for STABLE_SECONDS starts again from the shortest delay, so
    a crash loop backs off to MAX_DELAY while a rare crash is repaired within a second.
    """

    FIRST_DELAY = 0.5
    MAX_DELAY = 30.0
    STABLE_SECONDS = 60.0

    def __init__(self):
        self.services = []

    def add(self, name, start):
        service = Service(name, start, delay=self.FIRST_DELAY)
        service.child, service.started_at = start(), time.monotonic()
        self.services.append(service)

    @property
    def children(self):
        return [s.child for s in self.services if s.child is not None]

    def tick(self):
        for service in self.services:
            if service.child is not None and service.child.alive():
                continue
            if service.restart_at is None:
                self._schedule_restart(service)
            elif time.monotonic() >= service.restart_at:
                self._restart(service)

    def _schedule_restart(self, service):
        now = time.monotonic()
        if now - service.started_at >= self.STABLE_SECONDS:
            service.delay = self.FIRST_DELAY
        code = service.child.popen.returncode
        service.child.kill_leftovers()
        say(f"{service.name} exited (code {code}); restarting in {service.delay:g}s")
        service.child, service.restart_at = None, now + service.delay

    def _restart(self, service):
        service.delay = min(service.delay * 2, self.MAX_DELAY)
        try:
            service.child = service.start()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            service.restart_at = time.monotonic() + service.delay
            say(f"{service.name} could not restart ({exc}); next try in {service.delay:g}s")
            return
        service.started_at, service.restart_at = time.monotonic(), None
        say(f"{service.name} restarted")

    def stop_all(self):
        stop_all(self.children)
