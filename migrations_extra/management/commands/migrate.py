from django.core.management.commands import migrate
from django.db import connections

from migrations_extra.autodetector import PollsAutodetector

# A migration may build an index or a materialized view over every vote: no statement
# limit, and a minute to take its locks (then it fails instead of queueing every request
# behind it for longer).
MIGRATION_LOCK_SECONDS = 60


class Command(migrate.Command):
    autodetector = PollsAutodetector

    def handle(self, *args, **options):
        connection = connections[options["database"]]
        if hasattr(connection, "allow_long_statements"):
            connection.allow_long_statements(seconds=0, lock_seconds=MIGRATION_LOCK_SECONDS)
        return super().handle(*args, **options)
