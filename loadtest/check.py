"""The end-of-run check: what the service counted against what the clients were told.

For every poll of the run: acknowledged votes (201s the clients read) == counted ballots
(COUNT(*) of polls_vote rows, from the database when it can be reached, and from the
receipt ledger, which counts the same rows) == the results' total_votes (the counters);
and no 5xx anywhere.
"""

import requests

API = "/api/v1"


def ballots_in_database(database_url, poll_ids):
    """{poll_id: COUNT(*) of polls_vote}, or None when the database cannot be reached."""
    import psycopg2

    try:
        conn = psycopg2.connect(database_url, connect_timeout=3)
    except psycopg2.Error:
        return None
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT poll_id, COUNT(*) FROM polls_vote WHERE poll_id = ANY(%s) GROUP BY 1",
                [list(poll_ids)],
            )
            return {poll_id: 0 for poll_id in poll_ids} | dict(cursor.fetchall())
    finally:
        conn.close()


def run_check(base, admin_token, *, acks, unanswered, server_errors, database_url=None):
    """(passed, rows, lines): one row per poll, and the lines to print."""
    staff = {"Authorization": f"Bearer {admin_token}"}
    in_database = ballots_in_database(database_url, list(acks)) if database_url else None
    rows, passed = [], True
    for poll_id, acked in acks.items():
        results = requests.get(f"{base}{API}/polls/{poll_id}/results", headers=staff, timeout=30)
        ledger = requests.get(
            f"{base}{API}/polls/{poll_id}/receipts?page_size=1", headers=staff, timeout=30
        )
        row = {
            "poll_id": poll_id,
            "acks": acked,
            "ledger": ledger.json()["count"] if ledger.status_code == 200 else None,
            "total_votes": results.json()["total_votes"] if results.status_code == 200 else None,
            "ballots": in_database.get(poll_id) if in_database is not None else None,
        }
        counted = {row["ledger"], row["total_votes"]} | (
            {row["ballots"]} if in_database is not None else set()
        )
        row["ok"] = counted == {acked}
        passed &= row["ok"]
        rows.append(row)
    errors = sum(server_errors.values())
    passed &= errors == 0 and unanswered == 0
    lines = [
        "",
        "Check: what the service counted",
        f"  {'poll':>6} {'201s':>8} {'ballots(db)':>12} {'ledger':>8} {'results':>8}",
    ]
    for row in rows:
        ballots = "-" if row["ballots"] is None else row["ballots"]
        lines.append(
            f"  {row['poll_id']:>6} {row['acks']:>8} {ballots:>12} {row['ledger']!s:>8} "
            f"{row['total_votes']!s:>8}  {'ok' if row['ok'] else 'MISMATCH'}"
        )
    total = sum(acks.values())
    lines.append(f"  acknowledged votes: {total}; votes left unanswered: {unanswered}")
    if in_database is None:
        lines.append("  (database not reachable: ballots counted through the receipt ledger)")
    lines.append(f"  5xx answers: {errors} {dict(server_errors) if errors else ''}".rstrip())
    lines.append(f"CHECK {'PASSED' if passed else 'FAILED'}")
    return passed, rows, lines
