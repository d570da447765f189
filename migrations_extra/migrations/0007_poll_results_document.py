from django.db import migrations

from migrations_extra import sqlfiles


class Migration(migrations.Migration):
    """The results document's query as a function that keeps its plan
    (sql/poll_results_document.sql says why)."""

    dependencies = [("migrations_extra", "0006_poll_results_version")]

    operations = [sqlfiles.apply("poll_results_document.sql")]
