from django.db import migrations


class Migration(migrations.Migration):
    """For DBAs (docs/dba.md): comments on the tally views, pg_stat_statements where the
    server has it, and the read-only group role polls_reader."""

    dependencies = [("migrations_extra", "0003_receipt_ledger_index")]

    # The files read objects that later migrations create (the ballots' tables, polls
    # 0007): 0012 applies them on a fresh database; one migrated before 0012 had them here.
    operations = []
