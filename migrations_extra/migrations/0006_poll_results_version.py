from django.db import migrations

from migrations_extra import sqlfiles


class Migration(migrations.Migration):
    """The version of each poll's results, which cached entries record and the
    reconciler compares (sql/poll_results_version.sql says what it guarantees)."""

    dependencies = [("migrations_extra", "0005_vote_count_backend_shards")]

    operations = [sqlfiles.apply("poll_results_version.sql")]
