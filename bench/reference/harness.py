"""Start the reference app (bench/reference/) on the bench's stack, and check its votes.

It gets its own database on the bench's PostgreSQL (durable, as for the poll service),
Redis database 1 of the bench's Redis, its voters and polls (bench/reference/seed.py, in
a process of its own, since this one has Django set up for the poll service), and three
gunicorn sync workers: the size the course's backends run with.
"""

import json
import sys
from dataclasses import dataclass

from bench.fixtures import PollFixture

WORKERS = 3
RESULTS_PATH = "/api/polls/{poll}/results/"
VOTE_PATH = "/api/polls/{poll}/vote/"  # bench/lua/load.lua replaces {poll}
DATABASE = "reference"


@dataclass
class Reference:
    base: str
    tokens: list
    polls: list  # PollFixture
    dsn: str

    def results_path(self, poll):
        return RESULTS_PATH.format(poll=poll.id)


def start(stack, *, voters, polls, preload_voters, say):
    stack.sql(f"DROP DATABASE IF EXISTS {DATABASE}")
    stack.sql(f"CREATE DATABASE {DATABASE}")
    dsn = stack.dsn.rsplit("/", 1)[0] + f"/{DATABASE}"
    env = {
        **stack.env,
        "REFERENCE_DATABASE_URL": dsn,
        "REFERENCE_REDIS_URL": stack.env["REDIS_URL"].rsplit("/", 1)[0] + "/1",
        "DJANGO_SETTINGS_MODULE": "bench.reference.settings",
    }
    out = stack.tmp / "reference.json"
    stack.run([sys.executable, "-m", "bench.reference.seed", "--voters", str(voters)]
              + ["--polls", str(polls), "--preload-voters", str(preload_voters)]
              + ["--out", str(out)], env=env)  # fmt: skip
    seeded = json.loads(out.read_text())
    _, base = stack.start_server("reference", _gunicorn_args, env=env, ready_path=None)
    say(f"  reference app: gunicorn x{WORKERS} sync on {base}, {voters} voters, {polls} polls")
    polls = [PollFixture(p["id"], p["options"]) for p in seeded["polls"]]
    return Reference(base, seeded["tokens"], polls, dsn)


def _gunicorn_args(port):
    return [
        sys.executable, "-m", "gunicorn", "bench.reference.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS),
        "--worker-class", "sync", "--log-level", "warning",
    ]  # fmt: skip


def preload(reference, poll, count):
    """`count` votes in one of its polls, spread over its options, from the seed's voters
    without tokens (so they never meet the load's own votes)."""
    conn = _connect(reference)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                """
                INSERT INTO reference_vote (poll_id, choice_id, user_id, created_at)
                SELECT %(poll)s, (%(options)s::bigint[])[1 + u.n %% 10], u.id, now()
                FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM auth_user
                      WHERE username LIKE 'preload-%%' ORDER BY id LIMIT %(count)s) u
                """,
                {"poll": poll.id, "options": poll.options, "count": count},
            )
            if cur.rowcount != count:
                raise RuntimeError(f"the reference app has {cur.rowcount} preload voters")
    finally:
        conn.close()


def audit(reference, name, poll_ids, *, created, preloaded=0, unanswered=0):
    """As bench.audit.phase: the rows its polls got equal the 201s read, plus preloads,
    plus at most the votes whose answer never came."""
    conn = _connect(reference)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM reference_vote WHERE poll_id = ANY(%s)", [poll_ids])
            rows = cur.fetchone()[0]
    finally:
        conn.close()
    ok = created + preloaded <= rows <= created + preloaded + unanswered
    return {
        "phase": name,
        "created_201": created,
        "preloaded": preloaded,
        "unanswered": unanswered,
        "rows": rows,
        "drift": 0,  # it has no counters to drift: its tally is a COUNT(*)
        "ok": ok,
    }


def _connect(reference):
    import psycopg2

    return psycopg2.connect(reference.dsn)
