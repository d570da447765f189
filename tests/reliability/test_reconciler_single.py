"""Reconcilers on every node, one acting at a time (pollsite/single_actor.py): the
holder of the lock stopped (SIGSTOP, it keeps its connection and its lock) is replaced
by another within the bound, and resumes without breaking anything."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from polls.management.commands.reconcile_results import RECONCILER_LOCK
from tests.support.stack import app_env
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def holder():
    """The backend pid that holds the reconcilers' lock, or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = 0 AND objid = %s",
            [RECONCILER_LOCK],
        )
        rows = cursor.fetchall()
    assert len(rows) <= 1
    return rows[0][0] if rows else None


def test_a_still_reconciler_is_replaced_by_another(figure):
    env = app_env(LOG_LEVEL="WARNING")
    command = [sys.executable, "manage.py", "reconcile_results"]
    first = subprocess.Popen(command, env=env, cwd=ROOT)
    second = None
    try:
        wait_for(lambda: holder() is not None, within=20)
        owner = holder()
        second = subprocess.Popen(command, env=env, cwd=ROOT)
        time.sleep(3)
        assert holder() == owner  # the second waits: one acts
        os.kill(first.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        wait_for(lambda: holder() not in (None, owner), within=10)
        took_over_s = time.monotonic() - stopped_at
        os.kill(first.pid, signal.SIGCONT)
        time.sleep(2)
        assert first.poll() is None and second.poll() is None  # both still running
        assert holder() not in (None, owner)  # the resumed one does not take it back
    finally:
        for proc in (first, second):
            if proc is not None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.terminate()
                proc.wait(20)
    figure("reconciler holder stopped", took_over_s=round(took_over_s, 2))
