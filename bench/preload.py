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
"""

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
