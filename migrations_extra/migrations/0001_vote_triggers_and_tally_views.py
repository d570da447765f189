from django.db import migrations

from migrations_extra import sqlfiles


class Migration(migrations.Migration):
    dependencies = [("polls", "0001_initial")]

    operations = [
        # Counter rows are updated on every vote: leave room on each page so the update
        # stays HOT (no index write) instead of moving the row.
        migrations.RunSQL("ALTER TABLE polls_optiontally SET (fillfactor = 50);",
                          reverse_sql="ALTER TABLE polls_optiontally RESET (fillfactor);"),
        sqlfiles.apply("polls_vote_check.sql"),
        sqlfiles.apply("polls_vote_count.sql"),
        sqlfiles.apply("poll_results.sql"),
        # tally_audit.sql: by 0012, which a fresh database reaches once the ballots' tables
        # exist (polls 0007); a database migrated before 0012 had it from here.
    ]
