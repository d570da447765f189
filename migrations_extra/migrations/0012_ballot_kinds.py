from django.db import migrations

from migrations_extra import sqlfiles


class Migration(migrations.Migration):
    """Multiple and ranked ballots: their checks, their judgement at commit and their
    counters, the runoff, and every view that reads the ballots' tables (polls 0007).
    On a fresh database this is also where those views, the snapshots, their comments
    and the reader role are created (sqlfiles.py says why)."""

    dependencies = [
        ("migrations_extra", "0010_poll_status"),
        ("polls", "0007_ballot_kinds"),
    ]

    operations = [
        # As on polls_optiontally: counter rows are updated on every ballot, so leave
        # room on each page for the update to stay HOT.
        migrations.RunSQL(
            "ALTER TABLE polls_ballottally SET (fillfactor = 50);"
            "ALTER TABLE polls_rankingtally SET (fillfactor = 50);",
            reverse_sql="ALTER TABLE polls_ballottally RESET (fillfactor);"
            "ALTER TABLE polls_rankingtally RESET (fillfactor);",
        ),
        sqlfiles.apply("polls_vote_check.sql"),
        sqlfiles.apply("polls_vote_count.sql"),
        sqlfiles.apply("polls_choice_check.sql"),
        sqlfiles.apply("polls_ballot_complete.sql"),
        sqlfiles.apply("polls_cast_vote.sql"),
        sqlfiles.apply("poll_runoff.sql"),
        sqlfiles.apply("poll_results_version.sql"),
        sqlfiles.apply("poll_results_document.sql"),
        sqlfiles.apply("tally_audit.sql"),
        sqlfiles.apply("ballot_tally_audit.sql"),
        # Going back, the snapshots must go before the views and tables they read.
        migrations.RunSQL(
            migrations.RunSQL.noop,
            reverse_sql="DROP MATERIALIZED VIEW IF EXISTS poll_results_mv, vote_timeline_mv;",
        ),
        migrations.RunPython(sqlfiles.sync_snapshots, migrations.RunPython.noop),
        sqlfiles.apply("tally_view_comments.sql"),
        sqlfiles.apply("polls_reader.sql"),
        sqlfiles.apply("pg_stat_statements.sql"),
        sqlfiles.apply("polls_costly_statements.sql"),
    ]
