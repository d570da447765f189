"""Votes preloaded into a poll before its results are read under load (figure 3).

Both ways keep the counters right, and both are audited afterwards:
- through the triggers: a plain INSERT ... SELECT, so polls_vote_check validates and
  polls_vote_count counts every row, as for the API (used for 1,000 votes);
- in bulk: the triggers are off for one transaction (session_replication_role =
  replica, which also silences the tally guard), and that poll's counters are then
  rebuilt from its ballots with the trigger's own shard formula (used for 1,000,000
  votes, which would take minutes row by row on this machine).
Voter keys are SHA-256 digests of a per-poll serial, so they are unique and uniform
and never collide with the bench's real voters.

ranked_in_bulk loads ranked ballots the bulk way: each ballot draws one of a pool of
distinct rankings (one to four options, drawn with a few options preferred, as real
electorates do), the most common far more often; the ballot, ranking and first-preference
counters are then rebuilt from the choices.
"""

import random
import time

# The counters of a poll, rebuilt from its ballots, one row per option (shard 0). Counters
# are only summed, so later votes may land on any shard (sql/polls_vote_count.sql).
REBUILD_TALLY = """
    INSERT INTO polls_optiontally (poll_id, option_id, shard, votes)
    SELECT poll_id, option_id, 0, count(*)
    FROM polls_vote WHERE poll_id = %s GROUP BY 1, 2
"""

# `count` votes for a poll, spread evenly over its options ({cast_at}: see in_bulk).
_ROWS = """
    SELECT %(poll)s, (%(options)s::bigint[])[1 + g %% cardinality(%(options)s::bigint[])],
           sha256(convert_to('bench-preload:' || %(poll)s || ':' || g, 'UTF8')),
           md5('bench-receipt:' || %(poll)s || ':' || g || ':' || random()){cast_at}
    FROM generate_series(1, %(count)s) g
"""
INSERT_THROUGH_TRIGGERS = "INSERT INTO polls_vote (poll_id, option_id, voter_key, receipt)"
INSERT_THROUGH_TRIGGERS += _ROWS.format(cast_at="")
# cast_at is set by polls_vote_check, which is off during a bulk load: set it here.
INSERT_BULK = "INSERT INTO polls_vote (poll_id, option_id, voter_key, receipt, cast_at)"
INSERT_BULK += _ROWS.format(cast_at=", now()")


def through_triggers(stack, poll, count):
    started = time.monotonic()
    stack.sql(INSERT_THROUGH_TRIGGERS, {"poll": poll.id, "options": poll.options, "count": count})
    return _audited(stack, poll, count, started, "through the triggers")


def in_bulk(stack, poll, count, *, timeout_s=180):
    """Triggers off for one transaction, counters rebuilt for this poll, then audited."""
    started = time.monotonic()
    conn = stack.new_connection()
    try:
        with conn, conn.cursor() as cur:  # one transaction: all of it or nothing
            cur.execute(f"SET LOCAL statement_timeout = '{int(timeout_s)}s'")
            cur.execute("SET LOCAL session_replication_role = replica")
            cur.execute(INSERT_BULK, {"poll": poll.id, "options": poll.options, "count": count})
            cur.execute("DELETE FROM polls_optiontally WHERE poll_id = %s", [poll.id])
            cur.execute(REBUILD_TALLY, [poll.id])
    finally:
        conn.close()
    stack.sql("VACUUM ANALYZE polls_vote")  # hint bits and statistics, before the reads
    # The load leaves ~500 MB of WAL, and the checkpoint that sets off spreads its writes
    # over a minute: the reads ran under it (postgres.log: write=59.6 s). Write it now.
    stack.sql("CHECKPOINT")
    return _audited(stack, poll, count, started, "in bulk, counters rebuilt")


def _audited(stack, poll, count, started, how):
    rows = stack.scalar("SELECT count(*) FROM polls_vote WHERE poll_id = %s", [poll.id])
    counted = stack.scalar(
        "SELECT COALESCE(sum(votes), 0) FROM polls_optiontally WHERE poll_id = %s", [poll.id]
    )
    drift = stack.scalar(
        "SELECT COALESCE(sum(abs(drift)), 0) FROM tally_audit WHERE poll_id = %s", [poll.id]
    )
    return {
        "poll_id": poll.id,
        "votes": count,
        "how": how,
        "rows": rows,
        "counted": int(counted),
        "drift": int(drift),
        "ok": rows == count and counted == count and drift == 0,
        "seconds": round(time.monotonic() - started, 1),
    }


# Ranked ballots in bulk: each ballot g takes pool[h(g)] with h skewed towards the pool's
# first entries (a cube of a uniform hash of the vote id), and writes a choice per option.
_RANKED = """
    WITH pool AS (
        SELECT idx, ranking::bigint[] AS ranking
        FROM unnest(%(rankings)s::text[]) WITH ORDINALITY AS p(ranking, idx)
    ), ballots AS (
        INSERT INTO polls_vote (poll_id, option_id, voter_key, receipt, cast_at)
        SELECT %(poll)s, NULL,
               sha256(convert_to('bench-ranked:' || %(poll)s || ':' || g, 'UTF8')),
               md5('bench-ranked-receipt:' || %(poll)s || ':' || g || ':' || random()), now()
        FROM generate_series(1, %(count)s) g
        RETURNING id
    )
    INSERT INTO polls_choice (vote_id, poll_id, option_id, rank)
    SELECT b.id, %(poll)s, c.option_id, c.place
    FROM ballots b
    JOIN pool ON pool.idx = 1 + floor(
        %(size)s * power((abs(hashint8(b.id)) %% 1000003) / 1000003.0, 3))::int
    CROSS JOIN LATERAL unnest(pool.ranking) WITH ORDINALITY AS c(option_id, place)
"""
REBUILD_RANKED = [
    "INSERT INTO polls_ballottally (poll_id, shard, ballots) "
    "SELECT %(poll)s, 0, count(*) FROM polls_vote WHERE poll_id = %(poll)s",
    "INSERT INTO polls_optiontally (poll_id, option_id, shard, votes) "
    "SELECT %(poll)s, option_id, 0, count(*) FROM polls_choice "
    "WHERE poll_id = %(poll)s AND rank = 1 GROUP BY option_id",
    "INSERT INTO polls_rankingtally (poll_id, ranking, shard, ballots) "
    "SELECT %(poll)s, ranking, 0, count(*) FROM ("
    "  SELECT array_agg(option_id ORDER BY rank) AS ranking FROM polls_choice "
    "  WHERE poll_id = %(poll)s GROUP BY vote_id) r GROUP BY ranking",
]


def ranking_pool(options, size, *, seed=29):
    """`size` distinct rankings of 1 to 4 options, each drawn option by option with
    weights that favour the poll's first options (a Plackett-Luce draw)."""
    rng = random.Random(seed)
    weights = [0.72**i for i in range(len(options))]
    pool, seen = [], set()
    while len(pool) < size:
        left, ranking = list(range(len(options))), []
        for _ in range(rng.randint(1, 4)):
            pick = rng.choices(left, [weights[i] for i in left])[0]
            left.remove(pick)
            ranking.append(options[pick])
        if tuple(ranking) not in seen:
            seen.add(tuple(ranking))
            pool.append(ranking)
    return pool


def ranked_in_bulk(stack, poll, count, *, distinct=3000, timeout_s=600):
    """`count` ranked ballots over `distinct` rankings, triggers off for one transaction,
    then the poll's counters rebuilt from its choices, and audited."""
    started = time.monotonic()
    pool = ranking_pool(poll.options, distinct)
    rankings = ["{" + ",".join(map(str, r)) + "}" for r in pool]
    conn = stack.new_connection()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"SET LOCAL statement_timeout = '{int(timeout_s)}s'")
            cur.execute("SET LOCAL session_replication_role = replica")
            args = {"poll": poll.id, "count": count, "rankings": rankings, "size": len(pool)}
            cur.execute(_RANKED, args)
            for statement in REBUILD_RANKED:
                cur.execute(statement, {"poll": poll.id})
    finally:
        conn.close()
    stack.sql("VACUUM ANALYZE polls_vote")
    stack.sql("VACUUM ANALYZE polls_choice")
    stack.sql("VACUUM ANALYZE polls_rankingtally")
    stack.sql("CHECKPOINT")
    rows = stack.scalar("SELECT count(*) FROM polls_vote WHERE poll_id = %s", [poll.id])
    counted = stack.scalar(
        "SELECT COALESCE(sum(ballots), 0) FROM polls_ballottally WHERE poll_id = %s", [poll.id]
    )
    rankings_used = stack.scalar(
        "SELECT count(DISTINCT ranking) FROM polls_rankingtally WHERE poll_id = %s", [poll.id]
    )
    return {
        "poll_id": poll.id,
        "ballots": count,
        "how": "ranked, in bulk, counters rebuilt",
        "rows": rows,
        "counted": int(counted),
        "distinct_rankings": int(rankings_used),
        "ok": rows == count == counted,
        "seconds": round(time.monotonic() - started, 1),
    }
