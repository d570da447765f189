from django.db import migrations

from migrations_extra import sqlfiles


class Migration(migrations.Migration):
    """The snapshots' comments name who refreshes them now: the job workers."""

    dependencies = [("migrations_extra", "0010_poll_status")]

    operations = [sqlfiles.apply("tally_view_comments.sql")]
