from django.db import migrations

from migrations_extra import sqlfiles


class Migration(migrations.Migration):
    """The vote function refuses a vote that reaches it after its deadline
    (sql/polls_cast_vote.sql says why)."""

    dependencies = [("migrations_extra", "0008_bearer_and_cast_vote_functions")]

    operations = [sqlfiles.apply("polls_cast_vote.sql")]
