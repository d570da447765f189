from django.db import migrations

from migrations_extra import sqlfiles


class Migration(migrations.Migration):
    """One lookup of whether a poll has ballots, planned for the poll (sql/
    poll_has_ballots.sql), asked by the freeze triggers (polls 0009)."""

    dependencies = [("migrations_extra", "0012_ballot_kinds")]

    operations = [sqlfiles.apply("poll_has_ballots.sql")]
