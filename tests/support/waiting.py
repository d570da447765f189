"""Waiting, in tests, for something another process does."""

import time


def wait_for(condition, *, within, every=0.1):
    """Until condition() is true; fails the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not within {within} s"
        time.sleep(every)
