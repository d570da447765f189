from django.db import migrations


class Migration(migrations.Migration):
    """The version of each poll's results, which cached entries record and the
    reconciler compares (sql/poll_results_version.sql says what it guarantees)."""

    dependencies = [("migrations_extra", "0005_vote_count_backend_shards")]

    # The view reads the ballot counters (polls 0007): 0012 creates it on a fresh
    # database; one migrated before 0012 had it from here.
    operations = []
