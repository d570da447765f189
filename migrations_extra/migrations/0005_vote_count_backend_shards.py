from django.db import migrations

from migrations_extra import sqlfiles


class Migration(migrations.Migration):
    """polls_vote_count picks its counter row by connection, not by voter key (the file's
    header says why). Counters are only summed, so existing rows stay valid as they are;
    going back keeps the new function, which is just as correct."""

    dependencies = [("migrations_extra", "0004_dba_reader_role")]

    operations = [
        migrations.RunSQL(sqlfiles.read("polls_vote_count.sql"), migrations.RunSQL.noop),
    ]
