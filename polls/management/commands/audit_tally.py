"""Compare the vote counters with the ballots (the tally_audit view); exit 1 on drift."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection


class Command(BaseCommand):
    help = "Print the counters against COUNT(*) of the votes; exit non-zero on any drift."

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
        self.stdout.write(
            f"options: {options_seen}  counted: {counted}  ballots: {ballots}  "
            f"drift: {counted - ballots}"
        )
        for poll_id, option_id, label, c, b, drift in drifting:
            self.stdout.write(
                f"  poll {poll_id} option {option_id} ({label}): "
                f"counted {c}, ballots {b}, drift {drift:+d}"
            )
        if drifting:
            raise CommandError(f"{len(drifting)} option(s) drift")
        self.stdout.write("no drift")
