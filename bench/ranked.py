"""Figure 7: a ranked poll of a million ballots, read cold.

A results read that misses the cache rebuilds the document from the database, and for a
ranked poll that means the instant runoff (sql/poll_runoff.sql) over the grouped rankings
(polls_rankingtally: a few thousand rows, never the ballots). Timed three ways, each
seven times: the runoff alone and the whole document (poll_results_document), on a
direct connection; and a results GET through the web tier right after the poll's cached
entry was replaced (a new generation, and the process copies' 20 ms leases run out),
against the same GET warm.
"""

import statistics
import time

import httpx

RUNS = 7


def _timed(run):
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def _summary(ms):
    return {"median_ms": round(statistics.median(ms), 1), "max_ms": round(max(ms), 1)}


def figure(stack, base, poll, load, *, say):
    from django.conf import settings

    from polls.results_cache import ResultsCache

    conn = stack.new_connection()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:

            def runoff():
                cur.execute("SELECT poll_runoff(%s)", [poll.id])
                cur.fetchall()

            def document():
                cur.execute("SELECT * FROM poll_results_document(%s, now())", [poll.id])
                cur.fetchall()

            runoff_ms = [_timed(runoff) for _ in range(RUNS)]
            document_ms = [_timed(document) for _ in range(RUNS)]
    finally:
        conn.close()
    cache = ResultsCache(build=None)
    url = f"{base}/api/v1/polls/{poll.id}/results"
    cold, warm = [], []
    with httpx.Client(timeout=30) as client:
        body = client.get(url).json()
        for _ in range(RUNS):
            cache.replace_generations([poll.id])
            time.sleep(settings.RESULTS_LEASE_SECONDS * 3)
            cold.append(_timed(lambda: client.get(url).raise_for_status()))
            warm.append(_timed(lambda: client.get(url).raise_for_status()))
    result = {
        "ballots": load["ballots"],
        "distinct_rankings": load["distinct_rankings"],
        "rounds": len(body["rounds"]),
        "winner": body["winner"],
        "total_votes": body["total_votes"],
        "runoff": _summary(runoff_ms),
        "document": _summary(document_ms),
        "cold_get": _summary(cold),
        "warm_get": _summary(warm),
        "ok": body["total_votes"] == load["ballots"] and body["winner"] is not None,
    }
    say(
        f"  {result['ballots']:,} ballots, {result['distinct_rankings']:,} rankings, "
        f"{result['rounds']} rounds: runoff {result['runoff']['median_ms']} ms, document "
        f"{result['document']['median_ms']} ms, cold GET {result['cold_get']['median_ms']} ms "
        f"(max {result['cold_get']['max_ms']}), warm GET {result['warm_get']['median_ms']} ms"
    )
    return result
