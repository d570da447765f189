from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("migrations_extra", "0001_vote_triggers_and_tally_views"),
        ("polls", "0002_results_snapshots"),
    ]

    operations = [
        # Going back, the views must go before poll_results and the tables they read.
        migrations.RunSQL(
            migrations.RunSQL.noop,
            reverse_sql="DROP MATERIALIZED VIEW IF EXISTS poll_results_mv, vote_timeline_mv;",
        ),
        # The views read what later migrations create (the ballots' tables, polls 0007):
        # 0012 creates them on a fresh database; one migrated before 0012 had them here.
    ]
