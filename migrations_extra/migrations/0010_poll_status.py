from django.db import migrations

from migrations_extra import sqlfiles


class Migration(migrations.Migration):
    """One definition of a poll's status (sql/poll_status.sql), asked by the vote check
    and the results document (and by the option freeze: polls 0006)."""

    dependencies = [("migrations_extra", "0009_cast_vote_deadline")]

    operations = [
        sqlfiles.apply("poll_status.sql"),
        sqlfiles.apply("polls_vote_check.sql"),
        sqlfiles.apply("poll_results_document.sql"),
    ]
