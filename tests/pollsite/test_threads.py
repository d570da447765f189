"""pollsite.threads.BackgroundThread: one thread per job, started on first use and again
after it ended, never two at once."""

import os
import threading
import time

from pollsite.threads import BackgroundThread
from tests.support.waiting import wait_for


def test_it_starts_one_thread_however_many_callers_ask_at_once():
    started, release = [], threading.Event()
    job = BackgroundThread(lambda: (started.append(1), release.wait(5)), name="test-one")
    callers = [threading.Thread(target=job.ensure_running) for _ in range(20)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    release.set()
    wait_for(lambda: started, within=5)
    time.sleep(0.1)
    assert started == [1]


def test_it_starts_again_after_its_target_returned():
    runs = []
    job = BackgroundThread(lambda: runs.append(threading.current_thread().name), name="test-again")
    job.ensure_running()
    wait_for(lambda: len(runs) == 1 and not job._running, within=5)
    job.ensure_running()
    wait_for(lambda: len(runs) == 2, within=5)
    assert runs == ["test-again", "test-again"]


def test_it_gives_callers_the_first_state_before_they_go_on():
    state = {}
    job = BackgroundThread(
        lambda: time.sleep(5), name="test-prepare", prepare=lambda: state.update(sampled=True)
    )
    job.ensure_running()
    assert state == {"sampled": True}


def test_a_forked_child_starts_its_own():
    job = BackgroundThread(lambda: time.sleep(5), name="test-fork")
    job.ensure_running()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread is not here, so it must start one
        try:
            job.ensure_running()
            names = {t.name for t in threading.enumerate()}
            os.write(write, b"1" if "test-fork" in names else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
