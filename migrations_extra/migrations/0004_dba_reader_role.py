from django.db import migrations

from migrations_extra import sqlfiles


class Migration(migrations.Migration):
    """For DBAs (docs/dba.md): comments on the tally views, pg_stat_statements where the
    server has it, and the read-only group role polls_reader."""

    dependencies = [("migrations_extra", "0003_receipt_ledger_index")]

    operations = [
        sqlfiles.apply("tally_view_comments.sql"),
        sqlfiles.apply("polls_reader.sql"),
        sqlfiles.apply("pg_stat_statements.sql"),
        sqlfiles.apply("polls_costly_statements.sql"),
    ]
