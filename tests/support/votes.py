"""Polls' options and votes for tests: the option ids, a vote inserted behind the API's
back, a storm of votes over HTTP, and the tally audit view's totals."""

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from django.db import connection


def options_of(poll):
    return {o.label: o.id for o in poll.options.all()}


def insert_vote(poll_id, option_id, voter_key=None):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO polls_vote (poll_id, option_id, voter_key, receipt) "
            "VALUES (%s, %s, %s, %s) RETURNING id, cast_at",
            [poll_id, option_id, voter_key or secrets.token_bytes(32), secrets.token_hex(8)],
        )
        return cursor.fetchone()


def cast(client, base, poll_id, option_id, token):
    """A single ballot for option_id, or, given a dict, that ballot's body."""
    return client.post(
        f"{base}/api/v1/polls/{poll_id}/votes",
        json=option_id if isinstance(option_id, dict) else {"option_id": option_id},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def storm(base, jobs, workers):
    local = threading.local()

    def run(job):
        if not hasattr(local, "client"):
            local.client = httpx.Client()
        return cast(local.client, base, *job)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, jobs))


def tally_audit():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(counted), 0), COALESCE(SUM(ballots), 0), "
            "COALESCE(SUM(ABS(drift)), 0) FROM tally_audit"
        )
        return cursor.fetchone()
