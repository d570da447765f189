from django.db import migrations

from migrations_extra import sqlfiles


class Migration(migrations.Migration):
    """A bearer token's check and a vote as PL/pgSQL functions, whose plans each
    connection keeps (the files' headers say why)."""

    dependencies = [
        ("migrations_extra", "0007_poll_results_document"),
        ("identity", "0001_initial"),
        ("knox", "0009_extend_authtoken_field"),
        ("polls", "0004_trigger_bodies_from_sql_files"),
    ]

    operations = [
        sqlfiles.apply("identity_bearer.sql"),
        sqlfiles.apply("polls_cast_vote.sql"),
    ]
