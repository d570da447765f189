from django.db import migrations

from migrations_extra import sqlfiles


class Migration(migrations.Migration):
    dependencies = [("migrations_extra", "0002_results_snapshots")]

    operations = [sqlfiles.apply("polls_vote_ledger_idx.sql")]
