"""Figure 5: after every phase that voted, the counters and the ballots agree.

Two checks per phase: tally_audit shows no drift anywhere in the database (it compares
every option's counters with COUNT(*) of its ballots), and the rows in polls_vote for
that phase's polls equal the 201s the clients read (plus what was preloaded). A vote
whose answer the client never read (wrk gave up waiting, on a loaded machine) may have
counted or not: the rows may exceed the 201s by at most that many, never fall short.
"""


def total_drift(stack):
    return int(
        stack.scalar(
            "SELECT (SELECT COALESCE(sum(abs(drift)), 0) FROM tally_audit)"
            " + (SELECT COALESCE(sum(abs(drift) + rankings_drifted), 0) FROM ballot_tally_audit)"
        )
    )


def phase(stack, name, poll_ids, *, created, preloaded=0, unanswered=0):
    rows = stack.scalar("SELECT count(*) FROM polls_vote WHERE poll_id = ANY(%s)", [list(poll_ids)])
    drift = total_drift(stack)
    return {
        "phase": name,
        "created_201": created,
        "preloaded": preloaded,
        "unanswered": unanswered,
        "rows": rows,
        "drift": drift,
        "ok": created + preloaded <= rows <= created + preloaded + unanswered and drift == 0,
    }
