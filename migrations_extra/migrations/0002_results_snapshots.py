from django.db import migrations


def create_snapshots(apps, schema_editor):
    """Create poll_results_mv and vote_timeline_mv (sql/*_mv.sql) with pgviews' syncer.

    pgviews would do this after every migrate, but then also after `migrate polls zero`,
    over tables that no longer exist, so its post_migrate sync is off
    (MATERIALIZED_VIEWS_DISABLE_SYNC_ON_MIGRATE) and this migration owns the views. After
    changing a *_mv.sql file, add a migration that runs this again.
    """
    from django_pgviews.models import ViewSyncer

    ViewSyncer().run(force=True, update=True, materialized_views_check_sql_changed=True,
                     using=schema_editor.connection.alias)


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
        migrations.RunPython(create_snapshots, migrations.RunPython.noop),
    ]
