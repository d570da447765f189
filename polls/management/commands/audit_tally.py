"""Compare the counters with a recount of the ballots (the tally_audit and
ballot_tally_audit views); exit 1 on drift."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection


class Command(BaseCommand):
    help = (
        "Print the counters against a recount of the ballots: per option (single ballots, "
        "approvals, first preferences) and, for multiple and ranked polls, the ballots and "
        "the rankings. Exit non-zero on any drift."
    )

    def handle(self, *args, **options):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(SUM(counted), 0), COALESCE(SUM(ballots), 0), "
                "COUNT(*) FROM tally_audit"
            )
            counted, ballots, options_seen = cursor.fetchone()
            cursor.execute(
                "SELECT poll_id, option_id, label, counted, ballots, drift "
                "FROM tally_audit WHERE drift <> 0 ORDER BY poll_id, option_id"
            )
            drifting = cursor.fetchall()
            cursor.execute(
                "SELECT poll_id, counted, ballots, drift, rankings_drifted "
                "FROM ballot_tally_audit WHERE drift <> 0 OR rankings_drifted <> 0 "
                "ORDER BY poll_id"
            )
            drifting_ballots = cursor.fetchall()
        self.stdout.write(
            f"options: {options_seen}  counted: {counted}  ballots: {ballots}  "
            f"drift: {counted - ballots}"
        )
        for poll_id, option_id, label, c, b, drift in drifting:
            self.stdout.write(
                f"  poll {poll_id} option {option_id} ({label}): "
                f"counted {c}, ballots {b}, drift {drift:+d}"
            )
        for poll_id, c, b, drift, rankings in drifting_ballots:
            self.stdout.write(
                f"  poll {poll_id}: ballots counted {c}, cast {b}, drift {drift:+d}; "
                f"{rankings} ranking(s) drift"
            )
        if drifting or drifting_ballots:
            raise CommandError(
                f"{len(drifting)} option(s) and {len(drifting_ballots)} poll(s) drift"
            )
        self.stdout.write("no drift")
