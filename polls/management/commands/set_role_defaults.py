"""Set the connecting role's session defaults in this database to the limits and the
time zone the API's connections start with (pollsite/settings.py, "Bounded waits").

A transaction pooler (PgBouncer, DATABASE_POOL_MODE=transaction) cannot pass the startup
options that set them per connection, so its server connections start from the role's
defaults instead. Run after `migrate`, on a direct connection, with the role the API
uses (`make cluster` and docker-compose.cluster.yml do); idempotent.
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection


def role_defaults():
    limits = {
        "statement_timeout": settings.DB_STATEMENT_TIMEOUT_MS,
        "lock_timeout": settings.DB_LOCK_TIMEOUT_MS,
        "idle_in_transaction_session_timeout": settings.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
        "transaction_timeout": settings.DB_TRANSACTION_TIMEOUT_MS,
    }
    # Django skips its SET TIME ZONE when the connection reports UTC: on a pooled
    # connection that SET would be session state handed to the next client.
    return {"timezone": "'UTC'", **{k: f"'{int(v)}ms'" for k, v in limits.items() if v}}


class Command(BaseCommand):
    help = "Set this role's session defaults (limits, time zone) for a transaction pooler."

    def handle(self, *args, **options):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_database()")
            role, database = cursor.fetchone()
            for name, value in role_defaults().items():
                # Identifiers from the server itself, values from settings (integers).
                cursor.execute(f'ALTER ROLE "{role}" IN DATABASE "{database}" SET {name} = {value}')
        self.stdout.write(
            f"role {role} in {database}: "
            + ", ".join(f"{k}={v}" for k, v in role_defaults().items())
        )
