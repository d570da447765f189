"""The background threads that product code starts: one per job and process, started on
first use, and started again by the first use after it ended (a listener that served an
event loop now closed, a loop that died on an error; a forked child has none of its
parent's threads).

Each is a daemon: a process's work is its requests, and a thread of its own must never
keep it from exiting (a server's shutdown, the end of a test run).
"""

import os
import threading
import weakref
from collections.abc import Callable

_ALL: "weakref.WeakSet[BackgroundThread]" = weakref.WeakSet()


class BackgroundThread:
    """`target()` on a daemon thread called `name`. `prepare()`, if given, runs before each
    start, under the lock: callers that arrive meanwhile wait for it, so it can give them
    a first state (a first sample) before the thread exists."""

    def __init__(
        self,
        target: Callable[[], object],
        *,
        name: str,
        prepare: Callable[[], object] | None = None,
    ) -> None:
        self._target = target
        self._name = name
        self._prepare = prepare
        self._lock = threading.Lock()
        # Set before the thread starts and cleared when its target returns or raises: a
        # flag, because Thread.is_alive() costs 0.7 us and the database watchdog asks on
        # every statement.
        self._running = False
        _ALL.add(self)

    def ensure_running(self) -> None:
        if self._running:
            return
        with self._lock:
            if self._running:
                return
            if self._prepare is not None:
                self._prepare()
            self._running = True
            threading.Thread(target=self._run, name=self._name, daemon=True).start()

    def _run(self) -> None:
        try:
            self._target()
        finally:
            self._running = False

    def _forget_after_fork(self) -> None:
        self._lock = threading.Lock()  # a copy may be held by a thread the child lacks
        self._running = False


def _after_fork_in_child() -> None:
    for thread in list(_ALL):
        thread._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
